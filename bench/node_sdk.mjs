// Baseline: the official Node SDK (dify-client from npm), used as its README
// shows; its stream is the raw HTTP body, split into events and JSON.parse'd
// as its docs leave to the user.
//   node bench/node_sdk.mjs blocking BASE_URL N    -> "rate calls/s"
//   node bench/node_sdk.mjs stream BASE_URL QUERY  -> "rate events/s"
import { ChatClient } from "dify-client";

const [mode, baseUrl, arg] = process.argv.slice(2);
const client = new ChatClient("app-bench", baseUrl);
const now = () => performance.now() / 1000;

if (mode === "blocking") {
  const n = Number(arg);
  const t0 = now();
  for (let i = 0; i < n; i++) {
    const response = await client.createChatMessage({}, "answer=1024", "bench", false, null);
    if (!response.data.answer) throw new Error("no answer");
  }
  console.log(`rate ${(n / (now() - t0)).toFixed(1)}`);
} else {
  const t0 = now();
  const response = await client.createChatMessage({}, arg, "bench", true, null);
  const stream = response.data;
  let pending = "";
  let events = 0;
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    pending += chunk;
    let start = 0;
    for (;;) {
      const stop = pending.indexOf("\n\n", start);
      if (stop < 0) break;
      const frame = pending.slice(start, stop);
      if (frame.startsWith("data: ")) {
        const ev = JSON.parse(frame.slice(6));
        if (ev.event === "message" || ev.event === "message_end") events++;
      }
      start = stop + 2;
    }
    pending = pending.slice(start);
  });
  await new Promise((resolve, reject) => {
    stream.on("end", resolve);
    stream.on("error", reject);
  });
  console.log(`rate ${(events / (now() - t0)).toFixed(1)}\nevents ${events}`);
}
