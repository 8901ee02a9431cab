/**
 * `bert4ts convert <in> <out>`: convert a checkpoint between formats, keeping tensor names. The
 * output format follows the output name (.safetensors, .bin, .ckpt TF prefix) or --format.
 * Tensors stream one at a time, so checkpoints larger than memory convert.
 * `bert4ts convert --quantize dynamic-int8 <model dir> <out dir>`: the model saved as a quantized
 * model directory (config.json records the quantization; the input directory is not changed).
 */
import { parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts convert <input> <output> [--format safetensors|tf|pytorch] [--dtype float32|float16|bfloat16] [--quiet]
       bert4ts convert --quantize dynamic-int8|weight-only-int8|int4 [--embeddings] [--application A] <model dir> <output dir>

  <input>   safetensors file or *.index.json, TF checkpoint prefix (x.ckpt), pytorch_model.bin,
            .onnx, or a model directory
  <output>  out.safetensors | pytorch_model.bin | model.ckpt (TF: writes .index + .data-00000-of-00001)
  --dtype   cast float tensors (integer tensors are kept as they are)
  --quiet   no progress bar
  --quantize     save <model dir> as a quantized model directory (int8 sessions and ONNX export; the
                 weights file keeps its dtype): dynamic-int8 (int8 weights and activations),
                 weight-only-int8 (int8 weights, fp32 compute) or int4 (4-bit weight blocks, MatMulNBits)
  --embeddings   with --quantize: embedding tables int8 too
  --application  with --quantize: the application to build (default: the saved one)

Prints one JSON line with what was written.`;

const command: Command = {
  summary: 'convert a checkpoint between formats (safetensors, TF, PyTorch; ONNX in), keeping names; --quantize: an int8 model directory',
  async run(argv) {
    const parsed = parseCommandArgs(argv, {
      format: { type: 'string' }, dtype: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' },
      quantize: { type: 'string' }, embeddings: { type: 'boolean' }, application: { type: 'string' },
    }, USAGE);
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`expected an input and an output, got ${positionals.length} argument(s)\n${USAGE}`);
    const [input, output] = positionals as [string, string];
    if (values.quantize !== undefined) return quantizeDir(input, output, values.quantize, { embeddings: values.embeddings, application: values.application, other: values.format ?? values.dtype });
    if (values.embeddings || values.application !== undefined) throw new UsageError(`--${values.embeddings ? 'embeddings' : 'application'} goes with --quantize\n${USAGE}`);
    if (values.dtype !== undefined && !['float32', 'float16', 'bfloat16'].includes(values.dtype)) {
      throw new UsageError(`--dtype must be float32, float16 or bfloat16, got "${values.dtype}"`);
    }
    if (values.format !== undefined && !['safetensors', 'tf', 'pytorch'].includes(values.format)) {
      throw new UsageError(`--format must be safetensors, tf or pytorch, got "${values.format}"`);
    }
    const { checkOutputs, convertCheckpoint, formatFromPath, openCheckpoint } = await import('../checkpoint/index.ts');
    const format = (values.format ?? formatFromPath(output)) as 'safetensors' | 'tf' | 'pytorch' | undefined;
    if (!format) throw new UsageError(`cannot tell the output format from "${output}": name it .safetensors, .bin or .ckpt, or pass --format`);
    const { Progress } = await import('../util/progress.ts');
    const { FileError } = await import('../util/files.ts');
    // Count tensors first for the bar's total (opening reads only headers/indexes).
    const probe = openCheckpoint(input);
    let total: number;
    try {
      total = probe.list().length;
      checkOutputs(probe, output, format);
    } catch (e) {
      // An output that is the input (or a directory) is a bad command line, caught before anything
      // is read or written: a usage error (exit 2), like naming an unknown format.
      if (e instanceof FileError) throw new UsageError(e.message);
      throw e;
    } finally {
      probe.close();
    }
    const progress = new Progress({ label: 'convert', total, unit: 'tensors', silent: values.quiet });
    let megabytes = 0;
    const result = convertCheckpoint(input, output, {
      format,
      dtype: values.dtype as 'float32' | 'float16' | 'bfloat16' | undefined,
      onTensor: (_info, bytes) => {
        megabytes += bytes / 1e6;
        progress.tick(1, { MB: Number(megabytes.toFixed(1)) });
      },
    });
    progress.finish();
    for (const s of result.skipped) process.stderr.write(`convert: skipped '${s.name}': ${s.reason}\n`);
    process.stdout.write(JSON.stringify({ input: result.input, inputFormat: result.inputFormat, output: result.output, format: result.format, tensors: result.tensors, bytes: result.bytes, skipped: result.skipped.map((s) => s.name) }) + '\n');
    return 0;
  },
};

/** `--quantize`: build the model directory, save it quantized (with its tokenizer) to `output`. */
async function quantizeDir(input: string, output: string, mode: string, o: { embeddings?: boolean; application?: string; other?: string }): Promise<number> {
  const { QUANTIZE_MODES } = await import('../runtime/quantize.ts');
  type QuantizeMode = import('../runtime/quantize.ts').QuantizeMode;
  if (!(QUANTIZE_MODES as readonly string[]).includes(mode)) throw new UsageError(`--quantize must be ${QUANTIZE_MODES.join(' or ')}, got "${mode}"`);
  if (o.other !== undefined) throw new UsageError('--quantize writes a model directory: --format and --dtype do not apply');
  const { existsSync, statSync } = await import('node:fs');
  const { join, resolve } = await import('node:path');
  if (!existsSync(input) || !statSync(input).isDirectory() || !existsSync(join(input, 'config.json'))) throw new UsageError(`--quantize needs a model directory (with config.json) as input, got "${input}"`);
  if (resolve(input) === resolve(output)) throw new UsageError('--quantize: the output directory must differ from the input (the fp32 model stays as it is)');
  const { buildModel } = await import('../models/build.ts');
  const { quantize } = await import('../models/quantize.ts');
  const { loadTokenizer } = await import('../tokenizers/index.ts');
  const model = buildModel(input, { checkpoint: input, application: o.application });
  const tokenizer = model.tokenizer ?? (await loadTokenizer(input).catch(() => undefined));
  const q = quantize(model, { mode: mode as QuantizeMode, ...(o.embeddings ? { embeddings: true } : {}) });
  const files = q.save(output, { tokenizer });
  process.stdout.write(JSON.stringify({ input, output, family: q.family, application: q.application, quantize: q.options.quantize, files }) + '\n');
  return 0;
}

export default command;
