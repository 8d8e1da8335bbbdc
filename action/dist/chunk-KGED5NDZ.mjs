import{createRequire as __gitmlRequire}from'node:module';import{fileURLToPath as __gitmlPath}from'node:url';import{dirname as __gitmlDir}from'node:path';const require=__gitmlRequire(import.meta.url);const __filename=__gitmlPath(import.meta.url);const __dirname=__gitmlDir(__filename);
function o(e){try{return process.kill(e,0),!0}catch(r){return r.code==="EPERM"}}export{o as a};
