// Model configuration: everything needed to rebuild the networks from a checkpoint's config.json.
// Sizes follow architecture.md section 3: 32x32x3 images, 8x8x4 latents, a UNet near 1-2 M parameters
// and about 60 MFLOP per image forward, because pretraining here is bounded by optimiser steps.

export interface AutoencoderConfig {
  /** Channels at 32x32, 16x16 and 8x8. */
  channels: [number, number, number];
  latentChannels: number;
  groups: number;
}

export interface TextConfig {
  /** Index 0 = PAD, 1 = UNK, 2 = NULL (the classifier-free-guidance empty prompt); words follow. */
  vocab: string[];
  maxLength: number;
  dim: number;
  layers: number;
  heads: number;
}

export interface UNetConfig {
  /** Channels per level: level 0 works at 8x8, level 1 at 4x4. */
  channels: number[];
  resBlocks: number;
  /** Levels that get self-attention over positions (cross-attention to the text is at every level). */
  selfAttentionLevels: number[];
  heads: number;
  timeDim: number;
  groups: number;
}

export interface ScheduleConfig {
  kind: 'cosine';
  trainSteps: number;
}

export interface ModelConfig {
  format: 'sail-studio-ldm';
  version: 1;
  imageSize: number;
  imageChannels: number;
  latentSize: number;
  /** Multiplies encoder output so latents have unit variance over the training set. */
  latentScale: number;
  autoencoder: AutoencoderConfig;
  text: TextConfig;
  unet: UNetConfig;
  schedule: ScheduleConfig;
  /** clipX0: bound on the predicted clean latent in DDIM (see generate.ts); absent = 3. */
  sampling: SamplingConfig;
  /** Free-form: command, seed, steps trained, losses, dates. */
  provenance: Record<string, unknown>;
}

export interface SamplingConfig {
  steps: number;
  guidance: number;
  clipX0?: number;
  /**
   * Guidance by timestep: for t in [from, to) the guidance scale is `factor` times the requested
   * one (absent: the requested scale at every step).
   */
  guidanceBands?: { from: number; to: number; factor: number }[];
  /** Guidance rescale (Lin et al. 2023): 0 = none, 1 = the guided prediction's std matched to the conditional one's. */
  guidanceRescale?: number;
  /**
   * DDIM's eta (Song et al. 2021): 0 (absent) = the deterministic sampler; 1 = DDPM's posterior
   * variance. Each step's fresh noise is seeded by the image's own starting noise (generate.ts).
   */
  eta?: number;
}

export const SPECIAL_TOKENS = ['<pad>', '<unk>', '<null>'] as const;
export const PAD_ID = 0;
export const UNK_ID = 1;
export const NULL_ID = 2;

/**
 * Architectures: 'default' (shipped), 'tiny' (tests), and the capacity variants the pretrain CLI
 * measures against it (docs/pretraining.md): 'wide' (UNet channels 64/128 instead of 48/96),
 * 'deep' (two residual blocks per level), 'attn8' (self-attention at 8x8 as well as 4x4;
 * cross-attention to the text is at every level in all of them).
 */
export type ModelSize = 'default' | 'tiny' | 'wide' | 'deep' | 'attn8';
export const MODEL_SIZES: readonly ModelSize[] = ['default', 'tiny', 'wide', 'deep', 'attn8'];

/** The default (shipped) architecture, or a tiny one for tests and e2e. */
export function makeConfig(vocabWords: string[], size: ModelSize = 'default'): ModelConfig {
  const vocab = [...SPECIAL_TOKENS, ...vocabWords.filter((w) => !(SPECIAL_TOKENS as readonly string[]).includes(w))];
  const tiny = size === 'tiny';
  return {
    format: 'sail-studio-ldm',
    version: 1,
    imageSize: 32,
    imageChannels: 3,
    latentSize: 8,
    latentScale: 1,
    autoencoder: tiny
      ? { channels: [8, 8, 8], latentChannels: 4, groups: 4 }
      : { channels: [32, 64, 64], latentChannels: 4, groups: 8 },
    text: tiny
      ? { vocab, maxLength: 8, dim: 16, layers: 1, heads: 2 }
      : { vocab, maxLength: 16, dim: 64, layers: 1, heads: 4 },
    unet: tiny
      ? { channels: [8, 16], resBlocks: 1, selfAttentionLevels: [1], heads: 2, timeDim: 16, groups: 4 }
      : {
          channels: size === 'wide' ? [64, 128] : [48, 96],
          resBlocks: size === 'deep' ? 2 : 1,
          selfAttentionLevels: size === 'attn8' ? [0, 1] : [1],
          heads: 4,
          timeDim: 128,
          groups: 8,
        },
    schedule: { kind: 'cosine', trainSteps: 1000 },
    sampling: { steps: 25, guidance: 4, clipX0: 3 },
    provenance: {},
  };
}

/** Throws a message naming the first thing wrong with a config read from disk or the network. */
export function validateConfig(raw: unknown): ModelConfig {
  const fail = (what: string): never => {
    throw new Error(`config.json is not a SAIL Studio model config: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null) fail('not a JSON object');
  const c = raw as Partial<ModelConfig>;
  if (c.format !== 'sail-studio-ldm') fail(`format is ${JSON.stringify(c.format)}, expected "sail-studio-ldm"`);
  if (c.version !== 1) fail(`version ${String(c.version)} is not supported (this app reads version 1)`);
  if (!c.autoencoder || !c.text || !c.unet || !c.schedule || !c.sampling) fail('a section is missing');
  if (!Array.isArray(c.text!.vocab) || c.text!.vocab.length < SPECIAL_TOKENS.length) fail('text.vocab is missing');
  if (typeof c.latentScale !== 'number' || !Number.isFinite(c.latentScale)) fail('latentScale is not a number');
  return c as ModelConfig;
}
