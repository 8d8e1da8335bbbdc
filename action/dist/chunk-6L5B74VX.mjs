import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
var e=["queued","running","completed","failed","canceled","timed_out"],t=["completed","failed","canceled","timed_out"];export{e as a,t as b};
