// tfjs-core alone registers no gradient functions (the umbrella @tensorflow/tfjs package would).
// Importing this module registers them all, once, for every backend. In Node the ES-module file
// needs the resolve hook in scripts/lib/node-tfjs.mjs (vitest and the CLIs preload it).
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
