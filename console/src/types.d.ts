declare module "cytoscape-dagre" {
  const ext: import("cytoscape").Ext;
  export default ext;
}
