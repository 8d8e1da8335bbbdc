import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{j as a,k as b,l as c,m as d}from"./chunk-OX246G6W.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{a as cacheFile,d as digestsUnder,c as dropCopy,b as verifiedCopy};
