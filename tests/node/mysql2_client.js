// Drives Vigil's MySQL front-end with Node's mysql2 and its server-side prepared statements
// (`execute`: COM_STMT_PREPARE, COM_STMT_EXECUTE with binary rows). Prints one JSON object:
// what each step returned, or its error code and message.
//
//   node mysql2_client.js PORT TOKEN DATABASE
'use strict';
const mysql = require('mysql2/promise');

async function step(fn) {
  try {
    const [rows] = await fn();
    return { ok: true, rows };
  } catch (e) {
    return { ok: false, code: e.errno, sqlState: e.sqlState, message: e.message };
  }
}

async function main() {
  const [port, token, database] = process.argv.slice(2);
  const conn = await mysql.createConnection({
    host: '127.0.0.1',
    port: Number(port),
    user: 'agent',
    password: token,
    database,
    // The token is sent in clear (loopback), as mysql_clear_password asks.
    authPlugins: {
      mysql_clear_password: () => () => Buffer.from(token + '\0'),
    },
  });
  const out = {};
  out.read = await step(() => conn.execute('SELECT id, name, email FROM customers WHERE id = ?', [1]));
  out.readAgain = await step(() => conn.execute('SELECT id, name, email FROM customers WHERE id = ?', [2]));
  out.text = await step(() => conn.query('SELECT email FROM customers ORDER BY id'));
  out.write = await step(() => conn.execute('DELETE FROM canary WHERE id = ?', [1]));
  out.after = await step(() => conn.execute('SELECT COUNT(*) AS n FROM canary'));
  await conn.end();
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`mysql2 failed: ${e.stack || e}\n`);
  process.exit(1);
});
