//! Invoice use cases: list, show, assign, change status, history; all scoped by role.

use chrono::NaiveDate;
use icc_core::{
    AgingBucket, DteType, InvoiceId, InvoiceStatus, NaturalKey, aging_bucket, claim_state,
};
use icc_store::{
    AssignmentChange, Attachment, AuditEntry, Cursor, InvoiceDetail, InvoiceFilter, InvoiceRow,
    Page,
};
use serde::Serialize;

use crate::App;
use crate::auth::{Permission, Session};
use crate::error::{AppError, Result};

/// One invoice as users see it: everything stored plus what follows from today's date.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InvoiceView {
    /// Stored data (`plazo_reclamo` is `desconocido` when the SII reception is unknown).
    #[serde(flatten)]
    pub detail: InvoiceDetail,
    /// Spanish label of the document type.
    pub tipo_dte_nombre: String,
    /// Spanish label of the status.
    pub estado_nombre: &'static str,
    /// Days left to claim (negative once expired); absent when unknown.
    pub plazo_reclamo_dias: Option<i64>,
    /// Aging bucket of the debt (`al_dia`, `d1a30`, ...); absent when nothing is owed.
    pub antiguedad: Option<AgingBucket>,
    /// Attached files (PDF, XML).
    pub adjuntos: Vec<Attachment>,
    /// Credit and debit notes of the same supplier that reference this document.
    pub relacionados: Vec<InvoiceRow>,
    /// Where the due date (`vence`) comes from: `acordada`, `recepcion_sii`, `importacion`
    /// or `emision`.
    pub vence_fuente: icc_core::pagos::DueSource,
    /// The same, as screens say it.
    pub vence_fuente_nombre: &'static str,
    /// Balance, payments and late interest; absent for documents that are not paid (notes,
    /// guides).
    pub pagos: Option<crate::InvoicePayments>,
    /// The statuses this user may move it to from its current one (screens offer only
    /// these).
    pub cambios_de_estado: Vec<String>,
    /// Its cesiones, in chain order (the payee is the cesionario of the last one).
    pub cesiones: Vec<icc_store::nominas::CesionRow>,
    /// Its voucher record in Kame, when it was ever sent.
    pub kame: Option<icc_store::kame::Envio>,
}

/// Fills what the store leaves for people and today's date: the claim deadline's state,
/// whether the debt is overdue, and `desconocido` for an unknown deadline of a claimable
/// document (never a guess).
fn present(row: &mut InvoiceRow, today: NaiveDate) {
    let tipo = DteType::new(u16::try_from(row.tipo_dte).unwrap_or(0)).ok();
    let deadline: Option<NaiveDate> = row.plazo_reclamo.as_deref().and_then(|d| d.parse().ok());
    row.plazo_reclamo_estado = Some(claim_state(tipo, deadline, today).0.as_str().to_owned());
    row.vencida = row
        .estado
        .parse::<InvoiceStatus>()
        .is_ok_and(|e| e.is_payable())
        && row.vence.parse::<NaiveDate>().is_ok_and(|v| v < today)
        && tipo.is_some_and(|t| t.total_sign() != 0);
    if row.plazo_reclamo.is_none() && tipo.is_some_and(|t| t.is_claimable()) {
        row.plazo_reclamo = Some("desconocido".into());
    }
}

pub(crate) fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

impl App {
    /// A page of the invoices this user may see. `limit` is clamped to `1..=1000`.
    ///
    /// # Errors
    /// A malformed cursor, store errors.
    pub async fn list_invoices(
        &self,
        s: &Session,
        filter: InvoiceFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page> {
        let cursor = cursor.map(Cursor::decode).transpose()?;
        let filter = self.scoped_filter(s, filter)?;
        let mut page = self
            .store
            .list_invoices(&filter, limit, cursor.as_ref())
            .await?;
        let today = filter.today.unwrap_or_else(today);
        page.items.iter_mut().for_each(|r| present(r, today));
        if s.may(Permission::Accounting) {
            let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
            let unmapped = self.store.kame_unmapped(&ids).await?;
            for r in &mut page.items {
                r.sin_cuenta = unmapped.contains(&r.id);
            }
        }
        Ok(page)
    }

    /// The filter narrowed to what this user may see, with today's date filled in.
    ///
    /// # Errors
    /// An obra the user does not have.
    pub(crate) fn scoped_filter(
        &self,
        s: &Session,
        mut filter: InvoiceFilter,
    ) -> Result<InvoiceFilter> {
        if let Some(scope) = s.obra_scope() {
            if let Some(o) = &filter.obra
                && !s.sees_obra(Some(o))
            {
                return Err(AppError::Forbidden(format!(
                    "la obra «{o}» no está asignada a «{}»",
                    s.username
                )));
            }
            filter.visible_obras = Some(scope.to_vec());
        }
        if filter.today.is_none() {
            filter.today = Some(today());
        }
        Ok(filter)
    }

    /// Resolves `ID` or `RUT:TIPO:FOLIO` to an invoice this user may see.
    ///
    /// # Errors
    /// Malformed reference, unknown invoice, or one of an obra the user does not have.
    pub async fn resolve_invoice(&self, s: &Session, reference: &str) -> Result<InvoiceDetail> {
        let r = reference.trim();
        let id: InvoiceId = if r.contains(':') {
            let key: NaturalKey = r.parse()?;
            self.store
                .invoice_id_by_key(&key)
                .await?
                .ok_or_else(|| AppError::NotFound {
                    what: "factura",
                    key: key.to_string(),
                })?
        } else {
            r.parse()?
        };
        let detail = self
            .store
            .invoice(id)
            .await?
            .ok_or_else(|| AppError::NotFound {
                what: "factura",
                key: r.into(),
            })?;
        if !s.sees_obra(detail.row.obra.as_deref()) {
            return Err(AppError::Forbidden(format!(
                "la factura «{r}» no pertenece a las obras asignadas a «{}»",
                s.username
            )));
        }
        Ok(detail)
    }

    /// One invoice with its derived deadlines.
    ///
    /// # Errors
    /// As [`App::resolve_invoice`].
    pub async fn show_invoice(&self, s: &Session, reference: &str) -> Result<InvoiceView> {
        let detail = self.resolve_invoice(s, reference).await?;
        let today = today();
        let adjuntos = self.store.attachments(&detail.row.id).await?;
        let mut relacionados = self.linked_of(s, &detail).await?;
        relacionados.iter_mut().for_each(|r| present(r, today));
        let pagos = if DteType::new(u16::try_from(detail.row.tipo_dte).unwrap_or(0))
            .is_ok_and(|t| t.total_sign() > 0)
        {
            Some(self.payments_of(s, &detail).await?)
        } else {
            None
        };
        let mut v = view(detail, today);
        v.adjuntos = adjuntos;
        v.relacionados = relacionados;
        v.pagos = pagos;
        v.kame = self.store.kame_envio(&v.detail.row.id).await?;
        if let Ok(key) = format!(
            "{}:{}:{}",
            v.detail.row.rut_emisor, v.detail.row.tipo_dte, v.detail.row.folio
        )
        .parse::<icc_core::NaturalKey>()
            && icc_core::records::assignable(key.tipo_dte)
        {
            v.cesiones = self.store.cesiones(Some(&key)).await?;
        }
        // what this user may move it to from here (Rust checks it again on the change)
        if let Ok(from) = v.detail.row.estado.parse::<InvoiceStatus>() {
            v.cambios_de_estado = InvoiceStatus::ALL
                .into_iter()
                .filter(|to| {
                    from.can_become(*to)
                        && !paid_by_payments(*to)
                        && s.may(Permission::for_status(*to))
                })
                .map(|to| to.as_str().to_owned())
                .collect();
        }
        Ok(v)
    }

    /// Changes obra, centro de costo, cuenta or glosa. An `admin_obra` may only move an
    /// invoice between their own obras.
    ///
    /// # Errors
    /// Forbidden, unknown invoice or obra.
    pub async fn set_invoice_fields(
        &self,
        s: &Session,
        reference: &str,
        change: AssignmentChange,
    ) -> Result<InvoiceView> {
        s.require(Permission::Assign)?;
        let detail = self.resolve_invoice(s, reference).await?;
        if let Some(new_obra) = &change.obra
            && !s.sees_obra(new_obra.as_deref())
        {
            return Err(AppError::Forbidden(format!(
                "«{}» solo puede asignar facturas a sus obras ({})",
                s.username,
                s.obras.join(", ")
            )));
        }
        let clean = |v: &Option<Option<String>>| {
            v.as_ref().map(|o| {
                o.as_ref()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
            })
        };
        let change = AssignmentChange {
            obra: clean(&change.obra),
            centro_costo: clean(&change.centro_costo),
            cuenta: clean(&change.cuenta),
            glosa: clean(&change.glosa),
        };
        let id: InvoiceId = detail.row.id.parse()?;
        let mut tx = self.store.write(&s.username).await?;
        tx.update_assignment(id, &change).await?;
        tx.commit().await?;
        self.show_invoice(s, &id.to_string()).await
    }

    /// Moves an invoice through the status machine; who and when go to the audit log.
    ///
    /// # Errors
    /// Forbidden for the role, illegal transition, rejection without motivo.
    pub async fn set_invoice_status(
        &self,
        s: &Session,
        reference: &str,
        to: InvoiceStatus,
        motivo: Option<&str>,
    ) -> Result<InvoiceView> {
        s.require(Permission::for_status(to))?;
        if paid_by_payments(to) {
            return Err(AppError::Invalid(format!(
                "una factura queda «{}» al registrar sus pagos («Registrar pago…» en el detalle, \
                 «icc pagos registrar FACTURA --monto N») o al marcar pagada su nómina; el estado \
                 no se cambia a mano, para que el saldo siempre salga de los pagos",
                to.label()
            )));
        }
        let detail = self.resolve_invoice(s, reference).await?;
        let id: InvoiceId = detail.row.id.parse()?;
        let mut tx = self.store.write(&s.username).await?;
        let from = tx.set_status(id, to, motivo).await?;
        tx.commit().await?;
        tracing::info!(invoice = %id, user = %s.username, from = %from, to = %to, "status changed");
        self.show_invoice(s, &id.to_string()).await
    }

    /// The audit trail of an invoice, oldest first, starting with its creation (recorded
    /// on the row itself: bulk inserts write one audit row per batch, not per invoice).
    ///
    /// # Errors
    /// As [`App::resolve_invoice`].
    pub async fn invoice_history(&self, s: &Session, reference: &str) -> Result<Vec<AuditEntry>> {
        let detail = self.resolve_invoice(s, reference).await?;
        let mut out = vec![
            AuditEntry {
                at: detail.created_at.clone(),
                user_name: detail.created_by.clone(),
                action: "create".into(),
                field: None,
                old_value: None,
                new_value: Some(format!(
                    "{}:{}:{} (origen: {})",
                    detail.row.rut_emisor, detail.row.tipo_dte, detail.row.folio, detail.source
                )),
                fecha_local: String::new(),
                accion: String::new(),
            }
            .for_people(),
        ];
        out.extend(self.store.history("invoice", &detail.row.id).await?);
        Ok(out)
    }
}

/// The statuses only payments set (recording one, or marking a run paid; an iConstruye
/// pull mirrors what the office paid there): a person does not choose them, or the balance
/// would say one thing and the status another.
fn paid_by_payments(to: InvoiceStatus) -> bool {
    matches!(
        to,
        InvoiceStatus::Pagada | InvoiceStatus::ParcialmentePagada
    )
}

fn view(mut detail: InvoiceDetail, today: NaiveDate) -> InvoiceView {
    let tipo = DteType::new(u16::try_from(detail.row.tipo_dte).unwrap_or(0)).ok();
    let deadline: Option<NaiveDate> = detail
        .row
        .plazo_reclamo
        .as_deref()
        .and_then(|d| d.parse().ok());
    let estado: Option<InvoiceStatus> = detail.row.estado.parse().ok();
    let (_, dias) = claim_state(tipo, deadline, today);
    let antiguedad = match (estado, detail.row.vence.parse::<NaiveDate>()) {
        (Some(e), Ok(due)) if e.is_payable() => Some(aging_bucket(due, today)),
        _ => None,
    };
    let fuente = icc_core::pagos::legal_due_date(
        detail
            .fecha_vencimiento
            .as_deref()
            .and_then(|d| d.parse().ok()),
        detail
            .fecha_recepcion_sii
            .as_deref()
            .and_then(|d| icc_core::parse_datetime("fecha_recepcion_sii", d).ok()),
        detail
            .fecha_importacion
            .as_deref()
            .and_then(|d| d.parse().ok()),
        NaiveDate::MIN,
    )
    .source;
    present(&mut detail.row, today);
    InvoiceView {
        tipo_dte_nombre: tipo.map_or_else(|| detail.row.tipo_dte.to_string(), |t| t.to_string()),
        estado_nombre: estado.map_or("desconocido", InvoiceStatus::label),
        plazo_reclamo_dias: dias,
        antiguedad,
        detail,
        adjuntos: Vec::new(),
        relacionados: Vec::new(),
        vence_fuente: fuente,
        vence_fuente_nombre: fuente.label(),
        pagos: None,
        cambios_de_estado: Vec::new(),
        cesiones: Vec::new(),
        kame: None,
    }
}
