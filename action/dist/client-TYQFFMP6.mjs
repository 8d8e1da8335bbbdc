import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
import{a,b,c,d,e,f}from"./chunk-FDKXKGQZ.mjs";import"./chunk-HO5ZUT2E.mjs";import"./chunk-BP7ZRSYN.mjs";export{a as FIELD_MANAGER,c as forbiddenRule,f as kubeClient,d as kubeError,b as kubeconfigPath,e as loadKubeConfig};
