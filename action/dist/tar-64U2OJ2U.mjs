import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{a,b,c,d}from"./chunk-EEOZDKR2.mjs";import"./chunk-H45NYLGE.mjs";import"./chunk-MGKAS6BD.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{d as dockerignore,c as extractTar,b as packFiles,a as packFolder};
