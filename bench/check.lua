-- wrk script: POST an allowed SQL action to the check API.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("SIGNOFF_TOKEN")
wrk.body = '{"target":"demo-db","kind":"sql","payload":{"sql":"SELECT * FROM orders WHERE id = 42"},"reason":"bench"}'
