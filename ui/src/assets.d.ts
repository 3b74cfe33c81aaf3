// Vite's `?url` imports: the bundled asset's URL.
declare module "*?url" {
  const url: string;
  export default url;
}
