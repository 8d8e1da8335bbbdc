import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{a,b,c}from"./chunk-H4OCINXV.mjs";import"./chunk-EDGQ76ZM.mjs";import"./chunk-7YJ3OQT3.mjs";import"./chunk-3OBHTMIL.mjs";import"./chunk-2WAWOZT2.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{c as getRun,a as locateRun,b as recordingCommit};
