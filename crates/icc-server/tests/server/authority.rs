//! The server is the authority on every pushed change: role, obras, the status machine,
//! value types, entities it holds, devices; and a push cut off mid-way never breaks it.
//! Hand-made HTTP requests with real tokens, not the client.

use super::*;

/// A whole invoice document (as laptops send it) of folio `folio` in `obra`, and its id.
pub(crate) fn invoice(folio: u64, obra: Option<&str>) -> (String, Value) {
    let doc = json!({
        "key": {"rut_emisor": "76555835-2", "tipo_dte": 33, "folio": folio},
        "razon_social": "Hormigones Andinos SpA",
        "fecha_emision": "2026-03-03",
        "fecha_recepcion_sii": "2026-03-04T10:15:00",
        "fecha_vencimiento": null,
        "monto_neto": 1_000_000, "monto_exento": 0, "monto_iva": 190_000,
        "otros_impuestos": [], "monto_total": 1_190_000, "referencias": [],
        "obra": obra, "centro_costo": null, "cuenta": null, "orden_compra": null,
        "glosa": null, "estado": "recibida", "motivo_rechazo": null,
        "source": "rcv", "external_id": null,
    });
    let inv: icc_core::Invoice = serde_json::from_value(doc.clone()).unwrap();
    (inv.id().to_string(), doc)
}

fn doc_op(id: &str, doc: Value, h: Hlc) -> Op {
    let obra = doc["obra"].as_str().unwrap_or_default().to_owned();
    op(id, "_doc", doc, h, None, &obra)
}

/// Pushes one status change of `id` from `device`, in OB-1.
async fn set_estado(
    srv: &TestServer,
    token: &str,
    device: &str,
    id: &str,
    to: &str,
    ms: i64,
) -> (u16, Value) {
    srv.push(
        token,
        device,
        vec![op(id, "estado", json!(to), hlc(ms, device), None, "OB-1")],
    )
    .await
}

async fn ops_count(srv: &TestServer) -> i64 {
    count(&srv.pool, "SELECT COUNT(*) FROM ops").await
}

/// The admin imports X (OB-1) and Y (OB-2) from device `pc1`.
async fn x_and_y(srv: &TestServer, admin: &str) -> (String, String) {
    let (x, dx) = invoice(7001, Some("OB-1"));
    let (y, dy) = invoice(7002, Some("OB-2"));
    let t = now();
    let (s, v) = srv
        .push(
            admin,
            "pc1",
            vec![
                doc_op(&x, dx, hlc(t, "pc1")),
                doc_op(&y, dy, hlc(t + 1, "pc1")),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    (x, y)
}

#[tokio::test]
async fn a_site_managers_token_cannot_do_what_the_role_obras_or_state_forbid() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    let (x, y) = x_and_y(&srv, &admin).await;
    let jefe = srv.session("jefe", "obra1").await;
    let stored = ops_count(&srv).await;
    let t = now() + 10;
    let (unknown, unknown_doc) = invoice(7999, Some("OB-1"));
    let cases: Vec<(&str, Vec<Op>, u16, &str)> = vec![
        (
            "approve an invoice of another obra",
            vec![op(
                &y,
                "estado",
                json!("aprobada"),
                hlc(t, "obra1"),
                None,
                "OB-2",
            )],
            403,
            "sus obras",
        ),
        (
            "mark paid",
            vec![op(
                &x,
                "estado",
                json!("pagada"),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            403,
            "registrar pagos",
        ),
        (
            "change an amount",
            vec![op(
                &x,
                "monto_total",
                json!(1),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            403,
            "importar",
        ),
        (
            "claim a not-yet-imported invoice into its obra",
            vec![op(
                &unknown,
                "obra",
                json!("OB-1"),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            409,
            "no tiene la factura",
        ),
        (
            "create an invoice (an import)",
            vec![doc_op(&unknown, unknown_doc, hlc(t, "obra1"))],
            403,
            "importar",
        ),
        (
            "move an invoice to another obra",
            vec![op(&x, "obra", json!("OB-2"), hlc(t, "obra1"), None, "OB-1")],
            403,
            "sus obras",
        ),
        (
            "a null razón social",
            vec![op(
                &x,
                "razon_social",
                json!(null),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            400,
            "razon_social",
        ),
        (
            "a text amount",
            vec![op(
                &x,
                "monto_neto",
                json!("1000"),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            400,
            "monto",
        ),
        (
            "a status that is none",
            vec![op(
                &x,
                "estado",
                json!("regalada"),
                hlc(t, "obra1"),
                None,
                "OB-1",
            )],
            400,
            "estado",
        ),
        (
            "a change marked as iConstruye's without the right to pull from it",
            vec![{
                let mut o = op(
                    &x,
                    "estado",
                    json!("aprobada"),
                    hlc(t, "obra1"),
                    None,
                    "OB-1",
                );
                o.source = Some("iconstruye".into());
                o
            }],
            403,
            "importar",
        ),
    ];
    for (what, ops, status, says) in cases {
        let ids: Vec<uuid::Uuid> = ops.iter().map(|o| o.op_id).collect();
        let (s, v) = srv.push(&jefe, "obra1", ops).await;
        assert_eq!(s, status, "{what}: {v}");
        let refused: Vec<uuid::Uuid> = v["refused"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: {v}"))
            .iter()
            .map(|r| r["op_id"].as_str().unwrap().parse().unwrap())
            .collect();
        assert_eq!(refused, ids, "{what}: every op is named");
        assert!(
            v["refused"][0]["reason"].as_str().unwrap().contains(says),
            "{what}: {v}"
        );
        assert_eq!(ops_count(&srv).await, stored, "{what}: nothing stored");
    }
    // another device's id: the admin's laptop, or ops stamped with its clock
    let (s, v) = srv
        .push(
            &jefe,
            "pc1",
            vec![op(&x, "glosa", json!("x"), hlc(t, "pc1"), None, "OB-1")],
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = srv
        .push(
            &jefe,
            "obra1",
            vec![op(&x, "glosa", json!("x"), hlc(t, "pc1"), None, "OB-1")],
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(ops_count(&srv).await, stored);

    // what the role allows goes through: approving its own obra's invoice, from recibida
    let (s, v) = set_estado(&srv, &jefe, "obra1", &x, "aprobada", t + 1).await;
    assert_eq!(s, 200, "{v}");
    // and the status machine is the server's: once voided, no approval
    let (s, v) = set_estado(&srv, &admin, "pc1", &x, "anulada", t + 2).await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = set_estado(&srv, &jefe, "obra1", &x, "en_revision", t + 3).await;
    assert_eq!(s, 403, "{v}");
    let reason = v["refused"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Anulada") || reason.contains("anulada"),
        "{reason}"
    );
    assert_eq!(
        v["refused"][0]["current"]["value"], "anulada",
        "the refusal carries the server's value, to restore it on the laptop"
    );
    srv.stop().await;
}

#[tokio::test]
async fn an_edits_batch_sent_before_its_documents_batch_still_converges() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    let (z, dz) = invoice(7100, Some("OB-1"));
    let t = now();
    let edits = vec![
        op(
            &z,
            "glosa",
            json!("losa piso 4"),
            hlc(t + 1, "pc1"),
            None,
            "OB-1",
        ),
        op(&z, "cuenta", json!("5101"), hlc(t + 2, "pc1"), None, "OB-1"),
    ];
    // the edits overtake the documents (two pushes in flight): refused, nothing stored
    let (s, v) = srv.push(&admin, "pc1", edits.clone()).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(ops_count(&srv).await, 0);
    // said as such, so a laptop holding the invoice sends its document again
    assert_eq!(v["refused"][0]["unknown_entity"], true, "{v}");
    assert_eq!(v["refused"][1]["unknown_entity"], true, "{v}");
    let (s, v) = srv
        .push(&admin, "pc1", vec![doc_op(&z, dz, hlc(t, "pc1"))])
        .await;
    assert_eq!(s, 200, "{v}");
    // sent again (the laptop keeps them until acknowledged): stored, and every device
    // converges on the edited values
    let (s, v) = srv.push(&admin, "pc1", edits).await;
    assert_eq!((s, v["accepted"].as_u64()), (200, Some(2)), "{v}");
    let jefe = srv.session("jefe", "obra1").await;
    let all = srv.pull_all(&jefe).await;
    let fields: Vec<(&str, &Value)> = all
        .ops
        .iter()
        .filter(|o| o.op.entity_id == z)
        .map(|o| (o.op.field.as_str(), &o.op.value))
        .collect();
    assert_eq!(fields.len(), 3, "{fields:?}");
    assert!(fields.contains(&("glosa", &json!("losa piso 4"))));
    assert!(fields.contains(&("cuenta", &json!("5101"))));
    srv.stop().await;
}

/// A killed laptop hangs up in the middle of a push. The server used to drop the request's
/// work with it, sometimes in the middle of a `COPY`, and the pooled connection then failed
/// the next request with a 500. Twenty cut pushes, each with another push right behind it:
/// never a 500, and the cut ones are either stored whole or not at all.
#[tokio::test]
async fn pushes_cut_off_mid_way_never_make_the_server_answer_500() {
    use tokio::io::AsyncWriteExt;
    let srv = TestServer::start_with(|c| {
        c.metrics_token = Some(icc_server::config::SecretString::new(METRICS_TOKEN));
    })
    .await;
    let admin = srv.session("admin", "pc1").await;
    let addr = srv.url.trim_start_matches("http://").to_owned();
    let mut folio = 10_000;
    for round in 0..20 {
        let t = now() + round * 10;
        let mut ops = Vec::new();
        for i in 0..2_000 {
            folio += 1;
            let (id, d) = invoice(folio, Some("OB-1"));
            ops.push(doc_op(&id, d, hlc(t, "pc1")));
            let _ = i;
        }
        let body = serde_json::to_vec(&PushRequest {
            device_id: "pc1".into(),
            sent_at_ms: now(),
            ops,
        })
        .unwrap();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/v1/sync/push HTTP/1.1\r\nhost: {addr}\r\nicc-protocol: 1\r\nauthorization: Bearer {admin}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&body).await.unwrap();
        // hang up at a different moment each round, while the server works
        tokio::time::sleep(std::time::Duration::from_millis(round as u64 * 7)).await;
        drop(stream);
        folio += 1;
        let (id, d) = invoice(folio, Some("OB-1"));
        let (s, v) = srv
            .push(&admin, "pc1", vec![doc_op(&id, d, hlc(t + 1, "pc1"))])
            .await;
        assert_eq!(s, 200, "round {round}: {v}");
    }
    // every cut push was stored whole or not at all
    let per_clock: Vec<i64> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ops GROUP BY substr(hlc, 1, 16) HAVING COUNT(*) > 1",
    )
    .fetch_all(&srv.pool)
    .await
    .unwrap();
    assert!(per_clock.iter().all(|n| *n == 2_000), "{per_clock:?}");
    // and the server counted no 500, for these requests or any other
    let (s, text) = srv.metrics(Some(METRICS_TOKEN)).await;
    assert_eq!(s, 200, "{text}");
    assert!(
        text.contains("route=\"/api/v1/sync/push\",status=\"200\""),
        "the pushes are counted: {text}"
    );
    assert!(!text.contains("status=\"500\""), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn a_refusal_never_reads_out_an_invoice_of_another_obra() {
    let srv = TestServer::start().await;
    let admin = srv.session("admin", "pc1").await;
    let (x, y) = x_and_y(&srv, &admin).await;
    let jefe = srv.session("jefe", "obra1").await;
    let t = now() + 10;
    // y is in OB-2: whatever the edit, the answer holds nothing of y
    for (i, (field, value)) in [
        ("monto_total", json!(1)),
        ("razon_social", json!("x")),
        ("glosa", json!("x")),
        ("estado", json!("aprobada")),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, v) = srv
            .push(
                &jefe,
                "obra1",
                vec![op(
                    &y,
                    field,
                    value,
                    hlc(t + i as i64, "obra1"),
                    None,
                    "OB-1",
                )],
            )
            .await;
        assert_eq!(s, 403, "{field}: {v}");
        let refused = &v["refused"][0];
        assert!(refused["current"].is_null(), "{field}: {v}");
        assert!(
            !refused["reason"].as_str().unwrap().contains("OB-2"),
            "{field}: {v}"
        );
    }
    // of its own obra's invoice the site manager is told the server's value
    let (s, v) = srv
        .push(
            &jefe,
            "obra1",
            vec![op(
                &x,
                "monto_total",
                json!(1),
                hlc(t + 10, "obra1"),
                None,
                "OB-1",
            )],
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert!(!v["refused"][0]["current"].is_null(), "{v}");
    srv.stop().await;
}

#[tokio::test]
async fn a_conflict_goes_where_its_invoice_goes() {
    let srv = TestServer::start_for(
        &[
            ("admin", Role::Admin, &[]),
            ("jefe", Role::AdminObra, &["OB-1"]),
            ("jefe2", Role::AdminObra, &["OB-2"]),
        ],
        |_| {},
    )
    .await;
    let admin = srv.session("admin", "pc1").await;
    let (x, dx) = invoice(7401, Some("OB-1"));
    let t = now();
    let base = hlc(t, "pc1");
    let (s, v) = srv
        .push(
            &admin,
            "pc1",
            vec![
                doc_op(&x, dx, base.clone()),
                op(
                    &x,
                    "glosa",
                    json!("a"),
                    hlc(t + 1, "pc1"),
                    Some(base.clone()),
                    "OB-1",
                ),
                op(
                    &x,
                    "glosa",
                    json!("b"),
                    hlc(t + 2, "pc1"),
                    Some(base),
                    "OB-1",
                ),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["conflicts"], 1, "{v}");
    let jefe = srv.session("jefe", "obra1").await;
    assert_eq!(srv.pull_all(&jefe).await.conflicts.len(), 1);
    // x moves to OB-2: its conflict with it
    let (s, v) = srv
        .push(
            &admin,
            "pc1",
            vec![op(
                &x,
                "obra",
                json!("OB-2"),
                hlc(t + 3, "pc1"),
                None,
                "OB-1",
            )],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id: i64 = sqlx::query_scalar("SELECT id FROM conflicts")
        .fetch_one(&srv.pool)
        .await
        .unwrap();
    let fresh = srv.session("jefe", "obra1b").await;
    assert!(srv.pull_all(&fresh).await.conflicts.is_empty());
    let (s, v, _) = srv
        .post(
            &format!("/api/v1/conflicts/{id}/resolve"),
            Some(&jefe),
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let jefe2 = srv.session("jefe2", "obra2").await;
    let pulled = srv.pull_all(&jefe2).await;
    assert_eq!(pulled.conflicts.len(), 1);
    assert!(pulled.ops.iter().any(|o| o.op.entity_id == x));
    let (s, v, _) = srv
        .post(
            &format!("/api/v1/conflicts/{id}/resolve"),
            Some(&jefe2),
            json!({}),
        )
        .await;
    assert_eq!(s, 204, "{v}");
    srv.stop().await;
}
