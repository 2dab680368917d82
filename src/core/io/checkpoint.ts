// Checkpoint = config.json + model.safetensors (architecture.md section 6). Bit-exact round trip:
// F32 values go out and come back as the same bytes.
import * as tf from '@tensorflow/tfjs-core';
import { validateConfig, type ModelConfig } from '../model/config';
import { decode, encode } from '../model/autoencoder';
import type { ParamGetter, Params } from '../model/layers';
import type { Checkpoint } from '../model/ldm';
import { encodeText } from '../model/textEncoder';
import { unet } from '../model/unet';
import { readSafetensors, writeSafetensors, type RawTensor } from './safetensors';

/** Every parameter name and shape the architecture in `config` needs (runs it once on zeros). */
export function expectedParamShapes(config: ModelConfig): Record<string, number[]> {
  const shapes: Record<string, number[]> = {};
  const made: tf.Tensor[] = [];
  const p: ParamGetter = (name, shape) => {
    shapes[name] = shape;
    const t = tf.zeros(shape);
    made.push(t);
    return t;
  };
  tf.tidy(() => {
    const s = config.imageSize;
    const latents = encode(p, config.autoencoder, tf.zeros([1, s, s, config.imageChannels]) as tf.Tensor4D);
    decode(p, config.autoencoder, latents);
    const L = config.text.maxLength;
    const text = encodeText(p, config.text, tf.zeros([1, L], 'int32') as tf.Tensor2D, tf.ones([1, L]) as tf.Tensor2D);
    unet(p, config.unet, latents, tf.zeros([1]) as tf.Tensor1D, text, config.autoencoder.latentChannels, config.text.dim);
  });
  made.forEach((t) => t.dispose());
  return shapes;
}

/** Reads every parameter (asynchronously: no synchronous reads on WebGPU). */
export async function paramsToRaw(params: Params): Promise<Record<string, RawTensor>> {
  const raw: Record<string, RawTensor> = {};
  for (const [name, t] of Object.entries(params)) {
    raw[name] = { dtype: 'F32', shape: t.shape.slice(), data: (await t.data()) as Float32Array };
  }
  return raw;
}

export async function serializeCheckpoint(ck: Checkpoint): Promise<{ configJson: string; safetensors: Uint8Array }> {
  const safetensors = writeSafetensors(await paramsToRaw(ck.params), { format: 'pt', producer: 'sail-studio' });
  return { configJson: JSON.stringify(ck.config, null, 2) + '\n', safetensors };
}

/**
 * Builds a checkpoint from config.json content and model.safetensors bytes, checking that the
 * weights hold exactly the parameters (names and shapes) the config's architecture needs.
 */
export function parseCheckpoint(configRaw: unknown, safetensorsBytes: ArrayBuffer | Uint8Array): Checkpoint {
  const config = validateConfig(typeof configRaw === 'string' ? parseJson(configRaw) : configRaw);
  const { tensors } = readSafetensors(safetensorsBytes);
  const expected = expectedParamShapes(config);
  const missing = Object.keys(expected).filter((n) => !(n in tensors));
  if (missing.length > 0) throw new Error(`model.safetensors lacks ${missing.length} parameter(s) the config needs, e.g. "${missing[0]}"`);
  const extra = Object.keys(tensors).filter((n) => !(n in expected));
  if (extra.length > 0) throw new Error(`model.safetensors has ${extra.length} parameter(s) the config does not use, e.g. "${extra[0]}"`);
  for (const [name, shape] of Object.entries(expected)) {
    const got = tensors[name].shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) throw new Error(`Parameter "${name}" has shape [${got}] but the config needs [${shape}]`);
  }
  const params: Params = {};
  for (const [name, t] of Object.entries(tensors)) params[name] = tf.tensor(t.data, t.shape, 'float32');
  return { config, params };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`config.json is not valid JSON: ${(e as Error).message}`);
  }
}

/** Loads `${baseUrl}config.json` and `${baseUrl}model.safetensors`. */
export async function fetchCheckpoint(baseUrl: string, fetchFn: typeof fetch = fetch): Promise<Checkpoint> {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  const get = async (file: string) => {
    let res: Response;
    try {
      res = await fetchFn(`${base}${file}`);
    } catch (e) {
      throw new Error(`Could not download ${base}${file}: ${(e as Error).message}`);
    }
    if (!res.ok) throw new Error(`Could not download ${base}${file}: HTTP ${res.status}`);
    return res;
  };
  const configText = await (await get('config.json')).text();
  const bytes = await (await get('model.safetensors')).arrayBuffer();
  return parseCheckpoint(configText, bytes);
}

export function cloneParams(params: Params): Params {
  const out: Params = {};
  for (const [n, t] of Object.entries(params)) out[n] = t.clone();
  return out;
}
