-- wrk script: one 300-byte-class audit event per request (TOKEN is replaced by bench/run.sh).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer TOKEN"
wrk.body = '{"action":"user.login","actor":{"id":"user-42","ip":"192.0.2.42"},"outcome":"success","target":{"type":"host","id":"web-1"},"source":{"host":"web-1","app":"portal"},"message":"interactive login from the office network, second factor accepted; session cookie issued for 12h"}'
