export * from './dtype.ts';
export * from './tensor.ts';
export * from './ops.ts';
export * from './composite.ts';
export { PRIMS, defPrim, type OnnxBuilder, type PrimRule } from './prim.ts';
