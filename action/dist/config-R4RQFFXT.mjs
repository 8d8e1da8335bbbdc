import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{b as a,c as b,d as c}from"./chunk-2WAWOZT2.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{a as DEFAULT_INLINE_MAX_BYTES,c as loadRunStoreConfig,b as runStoreConfig};
