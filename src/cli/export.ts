/**
 * `bert4ts export --model DIR (--onnx FILE | --triton OUT)`: the model's inference graph as a
 * standalone ONNX file (plain onnxruntime runs it), or as a Triton Inference Server model
 * repository entry with dynamic batching.
 */
import { basename } from 'node:path';
import { numberOption, parseCommandArgs, UsageError, type Command } from './main.ts';

const USAGE = `usage: bert4ts export --model DIR [--application A] (--onnx FILE | --triton OUT [--name NAME] [--max-batch 32] [--max-queue-delay-us 5000] [--instances 1])

  --model DIR       model directory (config + checkpoint), as buildModel reads it
  --application A   encoder (default), mlm, lm, ...; a *ForSequenceClassification config exports its classifier
  --onnx FILE       write FILE (+ FILE.data for large weights)
  --triton OUT      write OUT/NAME/config.pbtxt and OUT/NAME/1/model.onnx (NAME: --name, default the directory's name)

Prints one JSON line with the files written.`;

const command: Command = {
  summary: 'export a model as ONNX, or as a Triton Inference Server model repository',
  async run(argv) {
    const { values: o, positionals } = parseCommandArgs(argv, {
      model: { type: 'string' }, application: { type: 'string' }, onnx: { type: 'string' }, triton: { type: 'string' }, name: { type: 'string' },
      'max-batch': { type: 'string' }, 'max-queue-delay-us': { type: 'string' }, instances: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    }, USAGE);
    if (o.help) {
      process.stdout.write(USAGE + '\n');
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'\n${USAGE}`);
    if (!o.model) throw new UsageError(`--model DIR is required\n${USAGE}`);
    if ((o.onnx === undefined) === (o.triton === undefined)) throw new UsageError(`give exactly one of --onnx FILE or --triton OUT\n${USAGE}`);
    const maxBatchSize = numberOption('max-batch', o['max-batch'], { integer: true, min: 1, max: 1 << 20 });
    const maxQueueDelayMicroseconds = numberOption('max-queue-delay-us', o['max-queue-delay-us'], { integer: true, min: 0, max: 60_000_000 });
    const instances = numberOption('instances', o.instances, { integer: true, min: 1, max: 256 });
    const name = o.name ?? basename(o.model.replace(/\/+$/, ''));
    if (o.triton !== undefined && !/^[\w.-]+$/.test(name)) throw new UsageError(`--name '${name}' must be letters, digits, '_', '-' or '.'`);
    const { buildModel } = await import('../models/build.ts');
    const model = buildModel(o.model, { checkpoint: o.model, application: o.application });
    if (o.onnx !== undefined) {
      const r = model.exportOnnx(o.onnx);
      process.stdout.write(JSON.stringify({ onnx: r.modelPath, data: r.dataPath, inputs: r.inputs, outputs: r.outputs }) + '\n');
      return 0;
    }
    const { exportTriton } = await import('../serving/triton.ts');
    const r = exportTriton(model, o.triton!, { name, maxBatchSize, maxQueueDelayMicroseconds, instances, labels: model.labels });
    process.stdout.write(JSON.stringify({ config: r.config, onnx: r.modelPath, data: r.dataPath }) + '\n');
    return 0;
  },
};
export default command;
