import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
function o(e){try{return process.kill(e,0),!0}catch(r){return r.code==="EPERM"}}export{o as a};
