// Word tokenizer over the emoji names and short names (architecture.md section 3). Words keep their
// order: "dog face" and "frog face" must reach the UNet as different sequences.
import { tokenizeWords } from '../data/emoji';
import { NULL_ID, PAD_ID, UNK_ID, type TextConfig } from './config';

export interface TokenizedPrompts {
  /** [batch * maxLength] token ids, row-major. */
  ids: Int32Array;
  /** [batch * maxLength] 1 for a real token, 0 for padding. */
  mask: Float32Array;
  unknown: string[][];
}

export class Tokenizer {
  private readonly index = new Map<string, number>();

  constructor(readonly config: Pick<TextConfig, 'vocab' | 'maxLength'>) {
    config.vocab.forEach((word, i) => this.index.set(word, i));
  }

  /** Words of `prompt` that the vocabulary does not know (they become UNK). */
  unknownWords(prompt: string): string[] {
    return tokenizeWords(prompt).filter((w) => !this.index.has(w));
  }

  /** Ids of one prompt, truncated to maxLength. An empty prompt is the NULL token alone. */
  encodeOne(prompt: string | null): number[] {
    if (prompt === null) return [NULL_ID];
    const words = tokenizeWords(prompt);
    if (words.length === 0) return [NULL_ID];
    return words.slice(0, this.config.maxLength).map((w) => this.index.get(w) ?? UNK_ID);
  }

  /** Encodes a batch; `null` entries are the classifier-free-guidance null prompt. */
  encode(prompts: (string | null)[]): TokenizedPrompts {
    const L = this.config.maxLength;
    const ids = new Int32Array(prompts.length * L).fill(PAD_ID);
    const mask = new Float32Array(prompts.length * L);
    const unknown: string[][] = [];
    prompts.forEach((prompt, row) => {
      this.encodeOne(prompt).forEach((id, j) => {
        ids[row * L + j] = id;
        mask[row * L + j] = 1;
      });
      unknown.push(prompt === null ? [] : this.unknownWords(prompt));
    });
    return { ids, mask, unknown };
  }
}
