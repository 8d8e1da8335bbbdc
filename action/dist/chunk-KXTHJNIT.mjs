import{createRequire as __gitmlRequire}from'node:module';const require=__gitmlRequire(import.meta.url);
var g=1e3,x=1e3,u="/gitml/code",p="/gitml/outputs",d="/gitml/metrics.jsonl",E="dev.gitml.environment",f="dev.gitml.digest";var o=class{constructor(r){this.max=r}max;text="";add(r){this.text+=r,this.text.length>this.max*2&&(this.text=this.text.slice(-this.max))}tail(r=this.max){return this.text.slice(-r)}};var c=256*1024,l=class extends o{constructor(){super(c)}};function _(i,r,a,m){let e={},n=s=>{if(a.add(s),m)for(let t of s.split(`
`))t.trim()&&m(t.replace(/\r/g,"").trimEnd())};return new Promise(s=>{i.modem.followProgress(r,t=>{t&&(e.streamError=t),s(e)},t=>{t.error||t.errorDetail?(e.failure=(t.errorDetail?.message??t.error??"unknown error").trim(),n(`ERROR: ${e.failure}
`)):t.stream?n(t.stream):t.status&&n(`${t.id?`${t.id}: `:""}${t.status}${t.progress?` ${t.progress}`:""}
`),t.aux?.ID&&(e.auxId=t.aux.ID)})})}export{g as a,x as b,u as c,p as d,d as e,E as f,f as g,l as h,_ as i};
