// Model directories for the server tests: reference checkpoints plus a small WordPiece vocabulary.
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel } from '../../src/models/build.ts';
import { loadTokenizer } from '../../src/tokenizers/load.ts';

const REF = 'test/fixtures/reference';
export const root = mkdtempSync(join(tmpdir(), 'bert4ts-serve-'));
const LETTERS = [...'abcdefghijklmnopqrstuvwxyz'];
const HAN = [...'我你他她是的了不在有人这中大为上个国和地到以说时要就出会可也天日月水火山石田土'];

/** A model directory from a reference checkpoint plus a WordPiece vocabulary of its size. */
export function modelDir(name: string, from: string, vocabSize: number, edit: (c: Record<string, unknown>) => void = () => {}): string {
  const dir = join(root, name);
  mkdirSync(dir);
  const config = JSON.parse(readFileSync(join(REF, from, 'config.json'), 'utf8'));
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  copyFileSync(join(REF, from, 'model.safetensors'), join(dir, 'model.safetensors'));
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...LETTERS, ...HAN];
  while (tokens.length < vocabSize) tokens.push(`x${tokens.length}`);
  writeFileSync(join(dir, 'vocab.txt'), tokens.slice(0, vocabSize).join('\n') + '\n');
  return dir;
}

/**
 * The three model kinds the server tests use: BERT with an MLM head, GPT-2, and a BERT sentiment
 * classifier saved in the library's directory format (reference encoder + a seeded random head).
 */
export async function testModelDirs(): Promise<{ bertDir: string; gptDir: string; clsDir: string }> {
  const encoder = modelDir('encoder', 'bert-encoder', JSON.parse(readFileSync(join(REF, 'bert-encoder', 'config.json'), 'utf8')).vocab_size);
  const classifier = buildModel(encoder, { checkpoint: encoder, numClasses: 2, labels: ['negative', 'positive'], seed: 5 });
  const clsDir = join(root, 'cls');
  classifier.save(clsDir, { tokenizer: await loadTokenizer(encoder) });
  return { bertDir: modelDir('bert', 'bert-mlm', 64), gptDir: modelDir('gpt', 'gpt2-lm', 80), clsDir };
}
