// Builds neuroglancer's standalone viewer into the package's static folder (see README.md).
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const outDir = here("../tomocupy_gladier/web/static/neuroglancer");

// three icons of neuroglancer's pinned ikonate commit are not in ikonate 1.1.1 on npm: the nearest ones
const missing = { "code-alt": "edit", "controls-alt": "controls", "layers": "stack" };
const alias = Object.entries(missing).map(([from, to]) => ({
  find: new RegExp(`^ikonate/icons/${from}\\.svg`),
  replacement: here(`./node_modules/ikonate/icons/${to}.svg`),
}));

// the npm packages whose code went into the bundle (main build and workers), for NOTICE
const bundled = new Set();
const collect = {
  name: "collect-packages",
  generateBundle(_, bundle) {
    for (const file of Object.values(bundle)) {
      for (const id of Object.keys(file.modules ?? {})) {
        const match = id.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
        if (match) bundled.add(match[1]);
      }
      for (const id of file.originalFileNames ?? []) {  // assets: wasm, svg, html
        const match = id.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
        if (match) bundled.add(match[1]);
      }
    }
  },
};
const notice = {
  name: "write-notice",
  closeBundle() {
    const lines = [...bundled].sort().map((name) => {
      const meta = JSON.parse(readFileSync(here(`./node_modules/${name}/package.json`), "utf8"));
      const licence = typeof meta.license === "string" ? meta.license : JSON.stringify(meta.license ?? meta.licenses);
      return `  ${`${meta.name} ${meta.version}`.padEnd(34)} ${licence}`;
    });
    const texts = [...bundled].sort().map((name) => {
      const file = readdirSync(here(`./node_modules/${name}`)).find((f) => /^(licen[cs]e|copying)/i.test(f));
      const text = file ? readFileSync(here(`./node_modules/${name}/${file}`), "utf8").trim() : "(the package has no licence file)";
      return `--- ${name}: ${file ?? "no licence file"} ---\n${text}\n`;
    });
    writeFileSync(`${outDir}/NOTICE`, readFileSync(here("./NOTICE.head"), "utf8") + lines.join("\n") + "\n\n" + texts.join("\n"));
    copyFileSync(here("./node_modules/neuroglancer/LICENSE"), `${outDir}/LICENSE`);
  },
};

export default {
  base: "./",
  resolve: { alias },
  plugins: [collect, notice],
  build: { outDir, emptyOutDir: true, sourcemap: false, target: "es2022", chunkSizeWarningLimit: 10000 },
  worker: { format: "es", plugins: () => [collect] },
};
