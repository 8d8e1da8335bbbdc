import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{a,b,c}from"./chunk-IIPUNZ3E.mjs";import"./chunk-6OPNZ555.mjs";import"./chunk-MGKAS6BD.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{c as exportTree,b as listTree,a as readBlobs};
