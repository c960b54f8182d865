// A self-contained, explorable docs page (no CDN: the machine may be offline). It reads the
// OpenAPI document and lists every operation with its parameters, body schema and responses.
export function docsPage(specUrl: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>quotaflow API</title>
<style>body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b1f24}
h1{font-size:1.6rem}details{border:1px solid #d0d7de;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}
summary{cursor:pointer}code,pre{font:12px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto}
.m{display:inline-block;width:4.2rem;font-weight:700;text-transform:uppercase}.get{color:#0969da}.post{color:#1a7f37}
.put,.patch{color:#9a6700}.delete{color:#cf222e}</style></head>
<body><h1>quotaflow API</h1><p>OpenAPI document: <a href="${specUrl}">${specUrl}</a>. Auth: <code>Authorization: Bearer &lt;api key&gt;</code>.</p>
<div id="ops">loading…</div>
<script>
fetch(${JSON.stringify(specUrl)}).then(r=>r.json()).then(doc=>{
  const esc=s=>String(s).replace(/[&<>]/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;'}[c]));
  const out=[];
  for(const [path,ops] of Object.entries(doc.paths)) for(const [m,op] of Object.entries(ops)){
    const body=op.requestBody?'<h4>Body</h4><pre>'+esc(JSON.stringify(op.requestBody.content['application/json'].schema,null,2))+'</pre>':'';
    const params=(op.parameters||[]).map(p=>'<li><code>'+esc(p.name)+'</code> ('+p.in+')</li>').join('');
    const resps=Object.entries(op.responses).map(([s,r])=>'<li><b>'+s+'</b> '+esc(r.description)+'</li>').join('');
    out.push('<details><summary><span class="m '+m+'">'+m+'</span><code>'+esc(path)+'</code> — '+esc(op.summary||'')+'</summary>'+(params?'<h4>Parameters</h4><ul>'+params+'</ul>':'')+body+'<h4>Responses</h4><ul>'+resps+'</ul></details>');
  }
  document.getElementById('ops').innerHTML=out.join('');
});
</script></body></html>`;
}
