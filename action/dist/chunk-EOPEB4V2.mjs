import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
var n={update(){},done(){}},o=()=>n;function i(){return o()}function f(e){if(e<1024)return`${e} B`;let t=["KiB","MiB","GiB","TiB"],r=e/1024,s=0;for(;r>=1024&&s<t.length-1;)r/=1024,s++;return`${r.toFixed(r<10?1:0)} ${t[s]}`}export{i as a,f as b};
