export function assembleKernel(watPath: string): Promise<{ unshared: string; shared: string }>;
export function moduleSource(name: string, watPath: string, modules: { unshared: string; shared: string }): string;
