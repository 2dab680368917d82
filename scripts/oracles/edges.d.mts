// Types of the edges plug-in oracle, for the tests that import it.
export declare function score(rgb: Uint8Array, size: number, prompt: string): number;
