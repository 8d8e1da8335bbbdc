import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{b as a,c as b}from"./chunk-VE5AK5JS.mjs";import"./chunk-LSWLFNPX.mjs";import"./chunk-MGKAS6BD.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{b as LocalTarget,a as pythonCommand};
