/**
 * `bert4ts convert <in> <out>`: convert a checkpoint between formats, keeping tensor names. The
 * output format follows the output name (.safetensors, .bin, .ckpt TF prefix) or --format.
 * Tensors stream one at a time, so checkpoints larger than memory convert.
 */
import { parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts convert <input> <output> [--format safetensors|tf|pytorch] [--dtype float32|float16|bfloat16] [--quiet]

  <input>   safetensors file or *.index.json, TF checkpoint prefix (x.ckpt), pytorch_model.bin,
            .onnx, or a model directory
  <output>  out.safetensors | pytorch_model.bin | model.ckpt (TF: writes .index + .data-00000-of-00001)
  --dtype   cast float tensors (integer tensors are kept as they are)
  --quiet   no progress bar

Prints one JSON line with what was written.`;

const command: Command = {
  summary: 'convert a checkpoint between formats (safetensors, TF, PyTorch; ONNX in), keeping names',
  async run(argv) {
    const parsed = parseCommandArgs(argv, { format: { type: 'string' }, dtype: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, help: { type: 'boolean', short: 'h' } }, USAGE);
    const { values, positionals } = parsed;
    if (values.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 2) throw new UsageError(`expected an input and an output, got ${positionals.length} argument(s)\n${USAGE}`);
    const [input, output] = positionals as [string, string];
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

export default command;
