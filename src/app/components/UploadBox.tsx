// Being built (studio-A): the pairs upload.
export function UploadBox() {
  return null;
}
