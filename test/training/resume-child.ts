// Run by resume.test.ts in a fresh process: restore a saved run, train the rest of it, save again.
//   node --import tsx test/training/resume-child.ts <state dir> <from micro-batch> <to micro-batch>
import { batchAt, fullTrainer, tinyBert } from './helpers.ts';

const [dir, from, to] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4])];
const trainer = await fullTrainer(tinyBert(99)); // other initial weights: everything must come from the saved state
trainer.restore(dir);
const losses: number[] = [];
for (let i = from; i < to; i++) losses.push((await trainer.trainStep(batchAt(i))).loss);
trainer.save(dir);
console.log(JSON.stringify({ step: trainer.step, losses }));
