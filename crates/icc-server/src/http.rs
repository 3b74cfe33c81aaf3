//! The router: routes, and the layers every request passes (request id, JSON logs, metrics,
//! compression, body limit, timeout). `/metrics` is on the public router only behind a token
//! and without a listener of its own ([`metrics_router`]).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::{AppState, auth, sync};

/// Largest request body (a push of 5,000 ops fits).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole public HTTP surface. `/metrics` is part of it only when a metrics token is
/// configured and no separate metrics listener is (`ICC_METRICS_TOKEN`, `ICC_METRICS_BIND`);
/// otherwise it answers 404 here.
pub fn router(st: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(auth::login))
        .route("/auth/refresh", post(auth::refresh))
        .route("/auth/logout", post(auth::logout))
        .route("/me", get(auth::me))
        .route("/sync/push", post(sync::push))
        .route("/sync/pull", get(sync::pull))
        .route("/conflicts/{id}/resolve", post(sync::resolve))
        .route("/openapi.json", get(openapi))
        .route("/docs", get(docs));
    let mut app = Router::new()
        .nest("/api/v1", api)
        .route("/health", get(health))
        .route("/ready", get(ready));
    if st.cfg.metrics_token.is_some() && st.cfg.metrics_bind.is_none() {
        app = app.route("/metrics", get(metrics));
    }
    app.layer(middleware::from_fn_with_state(st.clone(), observe))
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        // axum's extractors stop at 2 MB on their own: a push of 5,000 documents is larger
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned();
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        })
        // one line per answer (status, latency) at info, inside the request's span
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO)))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(st)
}

/// The router of the separate metrics listener (`ICC_METRICS_BIND`): `/metrics` only (behind
/// the token too when one is configured).
pub fn metrics_router(st: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .with_state(st)
}

/// Counts and times every request by its route (not its raw path, so ids do not explode the
/// label set; a path no route matches is `desconocida`) and its method (anything outside
/// the standard methods is `OTHER`).
async fn observe(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "desconocida".to_owned(), |m| m.as_str().to_owned());
    let method = crate::metrics::method_label(req.method().as_str());
    let start = Instant::now();
    let resp = next.run(req).await;
    st.metrics
        .request(method, &route, resp.status().as_u16(), start.elapsed());
    resp
}

/// `/health`: the process answers.
async fn health() -> impl IntoResponse {
    axum::Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "protocol": icc_core::sync::PROTOCOL_VERSION,
        "server_ms": chrono::Utc::now().timestamp_millis(),
    }))
}

/// `/ready`: the database answers and every migration is applied.
async fn ready(State(st): State<AppState>) -> Response {
    let db = sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(&st.pool)
        .await
        .is_ok();
    let migrated = db && crate::migrations_current(&st.pool).await;
    let body = json!({"database": db, "migrations": migrated});
    if db && migrated {
        (StatusCode::OK, axum::Json(body)).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

/// `/metrics`: Prometheus text; with a metrics token configured, only for
/// `Authorization: Bearer TOKEN` (compared in constant time).
async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &st.cfg.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| auth::same_secret(g.trim(), token.expose())) {
            let mut r = ApiError::unauthorized(
                "las métricas piden el token de ICC_METRICS_TOKEN en Authorization: Bearer …; el que llegó falta o no coincide",
            )
            .into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(st.pool.size(), st.pool.num_idle()),
    )
        .into_response()
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> serde_json::Value {
    let err = json!({"$ref": "#/components/schemas/Error"});
    let bearer = json!([{"bearer": []}]);
    let proto = json!({"name": "icc-protocol", "in": "header", "required": true, "schema": {"type": "integer", "const": icc_core::sync::PROTOCOL_VERSION}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "ICC Facturas server", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Cuentas, tokens y sincronización de ICC Facturas. Ver docs/sync.md."},
        "servers": [{"url": "/api/v1"}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "schemas": {
                "Error": {"type": "object", "required": ["code", "message"],
                          "properties": {"code": {"type": "string"}, "message": {"type": "string"}}},
                "Tokens": {"type": "object", "properties": {
                    "access_token": {"type": "string"}, "expires_in": {"type": "integer"},
                    "refresh_token": {"type": "string"},
                    "device_id": {"type": "string", "description": "el identificador de dispositivo de esta sesión: el equipo firma sus cambios con él (vacío en sesiones anteriores a estos identificadores)"},
                    "user": {"type": "object", "properties": {"username": {"type": "string"}, "role": {"type": "string"}, "obras": {"type": "array", "items": {"type": "string"}}}}}},
                "Op": {"type": "object", "required": ["op_id", "entity", "entity_id", "field", "value", "hlc"], "properties": {
                    "op_id": {"type": "string", "format": "uuid"}, "entity": {"type": "string"}, "entity_id": {"type": "string"},
                    "field": {"type": "string"}, "value": {}, "hlc": {"type": "string", "description": "MILISEGUNDOS(16)-CONTADOR(5)-DISPOSITIVO"},
                    "base_hlc": {"type": ["string", "null"]}, "obra": {"type": ["string", "null"]}}}
            }
        },
        "paths": {
            "/auth/login": {"post": {"summary": "Inicia sesión", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}, "device_id": {"type": "string", "pattern": "^[A-Za-z0-9_]{1,64}$", "description": "el identificador que el equipo ya tiene: se conserva si está libre o ya es de esta cuenta; si no, se entrega otro"}}}}}},
                "responses": {"200": {"description": "Tokens", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tokens"}}}}, "401": {"description": "Credenciales incorrectas", "content": {"application/json": {"schema": err}}}, "429": {"description": "Demasiados intentos (Retry-After)"}}}},
            "/auth/refresh": {"post": {"summary": "Renueva los tokens (el de renovación se usa una vez; repetirlo hasta 2 minutos después, si su sucesor no se usó, entrega otro par)", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["refresh_token"], "properties": {"refresh_token": {"type": "string"}, "new_device": {"type": "boolean", "default": false, "description": "entrega un identificador de dispositivo nuevo (después de restaurar un respaldo)"}}}}}},
                "responses": {"200": {"description": "Tokens nuevos", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Tokens"}}}}, "401": {"description": "Token inválido, vencido, revocado o reutilizado"}}}},
            "/auth/logout": {"post": {"summary": "Cierra la sesión (revoca la familia de tokens)", "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {"refresh_token": {"type": "string"}}}}}}, "responses": {"204": {"description": "Cerrada"}}}},
            "/me": {"get": {"summary": "La cuenta del token", "security": bearer, "responses": {"200": {"description": "Perfil"}, "401": {"description": "Sin token válido"}}}},
            "/sync/push": {"post": {"summary": "Envía cambios (idempotente por op_id)", "security": bearer, "parameters": [proto],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["device_id", "sent_at_ms", "ops"], "properties": {"device_id": {"type": "string"}, "sent_at_ms": {"type": "integer"}, "ops": {"type": "array", "maxItems": icc_core::sync::MAX_PUSH_OPS, "items": {"$ref": "#/components/schemas/Op"}}}}}}},
                "responses": {"200": {"description": "accepted, duplicates, conflicts, server_ms"}, "400": {"description": "Reloj desfasado o cambios mal formados"}, "403": {"description": "Obra no permitida"}, "426": {"description": "Versión de protocolo distinta"}}}},
            "/sync/pull": {"get": {"summary": "Cambios y conflictos después del cursor", "security": bearer, "parameters": [proto,
                {"name": "cursor", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": sync::MAX_PULL}},
                {"name": "device", "in": "query", "schema": {"type": "string"}, "description": "el dispositivo que pide: sus propios cambios no se le devuelven"},
                {"name": "scope", "in": "query", "schema": {"type": "string"}, "description": "las obras que el dispositivo tiene (`*`: todas), como dijo la última respuesta"},
                {"name": "treasury", "in": "query", "schema": {"type": "boolean"}, "description": "si el dispositivo tiene la tesorería, como dijo la última respuesta"}],
                "responses": {"200": {"description": "ops, conflicts, next_cursor, more, removed, scope, treasury, role, server_ms, remaining"}, "426": {"description": "Versión de protocolo distinta"}}}},
            "/conflicts/{id}/resolve": {"post": {"summary": "Marca un conflicto como resuelto", "security": bearer, "parameters": [proto, {"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
                "responses": {"204": {"description": "Resuelto"}, "404": {"description": "No existe o no es visible"}}}}
        }
    })
}

async fn openapi() -> impl IntoResponse {
    axum::Json(openapi_document())
}

/// An interactive page over the OpenAPI document: every operation with a form to try it
/// (token kept in the page only). Self-contained: nothing is loaded from the network.
async fn docs() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
