// The only module that talks to Rust. Every command returns its value or throws a
// UiError {code, message} whose message is Spanish and meant for the user.

import { invoke } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Attachment } from "./bindings/Attachment";
import type { AttachmentContent } from "./bindings/AttachmentContent";
import type { BackupInfo } from "./bindings/BackupInfo";
import type { AuditEntry } from "./bindings/AuditEntry";
import type { BulkResult } from "./bindings/BulkResult";
import type { Dashboard } from "./bindings/Dashboard";
import type { DoctorReport } from "./bindings/DoctorReport";
import type { ExportReport } from "./bindings/ExportReport";
import type { ExportRequest } from "./bindings/ExportRequest";
import type { ImportReport } from "./bindings/ImportReport";
import type { ImportRequest } from "./bindings/ImportRequest";
import type { InvoiceRow } from "./bindings/InvoiceRow";
import type { InvoiceView } from "./bindings/InvoiceView";
import type { JobProgress } from "./bindings/JobProgress";
import type { ListFilter } from "./bindings/ListFilter";
import type { Obra } from "./bindings/Obra";
import type { Page } from "./bindings/Page";
import type { SessionInfo } from "./bindings/SessionInfo";
import type { Status } from "./bindings/Status";
import type { UiError } from "./bindings/UiError";
import type { SupplierRow } from "./bindings/SupplierRow";
import type { User } from "./bindings/User";
import type { Assignment } from "./bindings/Assignment";
import type { CredentialStatus } from "./bindings/CredentialStatus";
import type { IconstruyeSettings } from "./bindings/IconstruyeSettings";
import type { PullReport } from "./bindings/PullReport";
import type { LinkReport } from "./bindings/LinkReport";
import type { LocalConflict } from "./bindings/LocalConflict";
import type { RefusedChange } from "./bindings/RefusedChange";
import type { RemovedInvoice } from "./bindings/RemovedInvoice";
import type { SyncReport } from "./bindings/SyncReport";
import type { SyncStatus } from "./bindings/SyncStatus";
import type { UpdateOffer } from "./bindings/UpdateOffer";
import type { UpdateSource } from "./bindings/UpdateSource";
import type { AccountRequest } from "./bindings/AccountRequest";
import type { Bank } from "./bindings/Bank";
import type { BankFileReport } from "./bindings/BankFileReport";
import type { RunEmail } from "./bindings/RunEmail";
import type { CesionImportReport } from "./bindings/CesionImportReport";
import type { CesionRow } from "./bindings/CesionRow";
import type { RunRow } from "./bindings/RunRow";
import type { RunView } from "./bindings/RunView";
import type { SupplierAccount } from "./bindings/SupplierAccount";
import type { ConceptoAsignado } from "./bindings/ConceptoAsignado";
import type { Envio } from "./bindings/Envio";
import type { Ficha } from "./bindings/Ficha";
import type { FichaEdit } from "./bindings/FichaEdit";
import type { FichasReport } from "./bindings/FichasReport";
import type { KameSettings } from "./bindings/KameSettings";
import type { Plantilla } from "./bindings/Plantilla";
import type { PostReport } from "./bindings/PostReport";
import type { Unidad } from "./bindings/Unidad";
import type { BudgetLineDoc } from "./bindings/BudgetLineDoc";
import type { BudgetLineInput } from "./bindings/BudgetLineInput";
import type { GridRow } from "./bindings/GridRow";
import type { LoanDoc } from "./bindings/LoanDoc";
import type { LoanEdit } from "./bindings/LoanEdit";
import type { LoanInput } from "./bindings/LoanInput";
import type { ObraBudgetView } from "./bindings/ObraBudgetView";
import type { ObraGrid } from "./bindings/ObraGrid";
import type { ObraLineDoc } from "./bindings/ObraLineDoc";
import type { TreasuryBankInput } from "./bindings/TreasuryBankInput";
import type { TreasuryGrid } from "./bindings/TreasuryGrid";
import type { TreasuryRowInput } from "./bindings/TreasuryRowInput";
import type { TreasuryView } from "./bindings/TreasuryView";
import type { TreasuryBankDoc } from "./bindings/TreasuryBankDoc";
import type { TreasuryRowDoc } from "./bindings/TreasuryRowDoc";
import type { WeekInput } from "./bindings/WeekInput";

export type { AuditEntry, BulkResult, DoctorReport, ExportReport, ImportReport, InvoiceRow, InvoiceView };
export type { JobProgress, ListFilter, Obra, SessionInfo, Status, UiError, User, Assignment };
export type { Attachment, BackupInfo, SupplierRow, CredentialStatus, IconstruyeSettings, PullReport };
export type { LinkReport, LocalConflict, RefusedChange, RemovedInvoice, SyncReport, SyncStatus };

export type { Page };
export type { AccountRequest, Bank, BankFileReport, CesionImportReport, CesionRow, RunEmail, RunRow, RunView, SupplierAccount };
export type { ConceptoAsignado, Envio, Ficha, FichaEdit, FichasReport, KameSettings, Plantilla, PostReport, Unidad };
export type { BudgetLineDoc, BudgetLineInput, GridRow, LoanDoc, LoanEdit, LoanInput, ObraBudgetView, ObraGrid };
export type { ObraLineDoc, TreasuryBankDoc, TreasuryBankInput, TreasuryGrid, TreasuryRowDoc, TreasuryRowInput, TreasuryView, WeekInput };

/** Listeners for "the session is locked" answers, so any screen falls back to the lock screen. */
const lockedListeners: Array<() => void> = [];
export function onLocked(f: () => void): void {
  lockedListeners.push(f);
}

function asUiError(e: unknown): UiError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as UiError;
  return { code: "internal", message: String(e) };
}

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (raw) {
    const e = asUiError(raw);
    if (e.code === "locked") lockedListeners.forEach((f) => f());
    throw e;
  }
}

export const api = {
  status: () => call<Status>("status"),
  initAdmin: (username: string, password: string) => call<SessionInfo>("init_admin", { username, password }),
  recoveryKey: () => call<string | null>("recovery_key"),
  login: (username: string, password: string) => call<SessionInfo>("login", { username, password }),
  lock: () => call<void>("lock"),
  unlock: (password: string) => call<SessionInfo>("unlock", { password }),
  logout: () => call<void>("logout"),
  listInvoices: (filter: ListFilter, limit: number, cursor: string | null) =>
    call<Page>("list_invoices", { filter, limit, cursor }),
  showInvoice: (reference: string) => call<InvoiceView>("show_invoice", { reference }),
  history: (reference: string) => call<AuditEntry[]>("invoice_history", { reference }),
  recordPayment: (reference: string, monto: string, fecha: string | null, medio: string | null, referencia: string | null) =>
    call<InvoiceView>("record_payment", { reference, monto, fecha, medio, referencia }),
  setStatus: (references: string[], estado: string, motivo: string | null) =>
    call<BulkResult>("set_status", { references, estado, motivo }),
  assign: (references: string[], assignment: Assignment) => call<BulkResult>("assign", { references, assignment }),
  importFiles: (job: string, request: ImportRequest) => call<ImportReport>("import_files", { job, request }),
  exportReport: (job: string, request: ExportRequest) => call<ExportReport>("export_report", { job, request }),
  cancelJob: (job: string) => call<void>("cancel_job", { job }),
  mappingProfiles: () => call<string[]>("mapping_profiles"),
  setLockMinutes: (minutes: number) => call<void>("set_lock_minutes", { minutes }),
  listBackups: () => call<BackupInfo[]>("list_backups"),
  createBackup: () => call<BackupInfo>("create_backup"),
  backupDir: () => call<string>("backup_dir"),
  setBackupDir: (path: string) => call<string>("set_backup_dir", { path }),
  listObras: () => call<Obra[]>("list_obras"),
  addObra: (codigo: string, nombre: string) => call<Obra>("add_obra", { codigo, nombre }),
  createObras: (codes: string[]) => call<string[]>("create_obras", { codes }),
  updateObra: (codigo: string, nombre: string, activa: boolean) => call<Obra>("update_obra", { codigo, nombre, activa }),
  updateUser: (username: string, role: string, obras: string[], disabled: boolean) =>
    call<User>("update_user", { username, role, obras, disabled }),
  listUsers: () => call<User[]>("list_users"),
  addUser: (username: string, role: string, obras: string[], password: string) =>
    call<void>("add_user", { username, role, obras, password }),
  disableUser: (username: string) => call<void>("disable_user", { username }),
  doctor: () => call<DoctorReport>("doctor"),
  dashboard: () => call<Dashboard>("dashboard"),
  addAttachment: (reference: string, path: string) => call<Attachment[]>("add_attachment", { reference, path }),
  openAttachment: (id: number) => call<void>("open_attachment", { id }),
  readAttachment: (id: number) => call<AttachmentContent>("read_attachment", { id }),
  suppliers: () => call<SupplierRow[]>("suppliers"),
  credentials: () => call<CredentialStatus[]>("credentials"),
  setCredential: (name: string, secret: string) => call<void>("set_credential", { name, secret }),
  deleteCredential: (name: string) => call<boolean>("delete_credential", { name }),
  iconstruyeSettings: () => call<IconstruyeSettings>("iconstruye_settings"),
  setIconstruyeUrl: (url: string) => call<void>("set_iconstruye_url", { url }),
  iconstruyePull: (job: string, desde: string | null, hasta: string | null) =>
    call<PullReport>("iconstruye_pull", { job, desde, hasta }),
  syncStatus: () => call<SyncStatus>("sync_status"),
  loginServer: (url: string, serverUser: string, password: string) =>
    call<LinkReport>("login_server", { url, serverUser, password }),
  syncNow: () => call<SyncReport>("sync_now"),
  conflicts: () => call<LocalConflict[]>("conflicts"),
  /** `null` when sent now; else why it waits in the outbox for the next sync. */
  resolveConflict: (id: number, keep: "mine" | "theirs") =>
    call<string | null>("resolve_conflict", { id, keep }),
  refusedChanges: () => call<RefusedChange[]>("refused_changes"),
  discardRefused: (opId: string) => call<RefusedChange>("discard_refused", { opId }),
  removedInvoices: () => call<RemovedInvoice[]>("removed_invoices"),
  logoutServer: () => call<void>("logout_server"),
  updateSource: () => call<UpdateSource>("update_source"),
  updateCheck: () => call<UpdateOffer | null>("update_check"),
  updateInstall: () => call<void>("update_install"),
  paymentCutoff: () => call<string>("payment_cutoff"),
  listRuns: () => call<RunRow[]>("list_runs"),
  showRun: (run: string) => call<RunView>("show_run", { run }),
  createRun: (corte: string | null) => call<RunView>("create_run", { corte }),
  setRunLine: (run: string, documento: string, incluida: boolean | null, monto: string | null) =>
    call<RunView>("set_run_line", { run, documento, incluida, monto }),
  approveRun: (run: string) => call<RunView>("approve_run", { run }),
  runBankFile: (run: string, path: string) => call<BankFileReport>("run_bank_file", { run, path }),
  runReport: (run: string, path: string) => call<string>("run_report", { run, path }),
  markRunSent: (run: string) => call<RunView>("mark_run_sent", { run }),
  emailRun: (run: string) => call<RunEmail>("email_run", { run }),
  listCesiones: () => call<CesionRow[]>("list_cesiones"),
  importCesiones: (paths: string[]) => call<CesionImportReport>("import_cesiones", { paths }),
  markRunPaid: (run: string, fecha: string | null) => call<RunView>("mark_run_paid", { run, fecha }),
  listBankAccounts: (estado: string | null) => call<SupplierAccount[]>("list_bank_accounts", { estado }),
  addBankAccount: (account: AccountRequest) => call<SupplierAccount>("add_bank_account", { account }),
  approveBankAccount: (id: string) => call<SupplierAccount>("approve_bank_account", { id }),
  listBanks: () => call<Bank[]>("list_banks"),
  kameSettings: () => call<KameSettings>("kame_settings"),
  setKameSettings: (clientId: string, usuario: string, url: string | null) =>
    call<KameSettings>("set_kame_settings", { clientId, usuario, url }),
  kamePullFichas: () => call<FichasReport>("kame_pull_fichas"),
  kamePlantillas: () => call<Plantilla[]>("kame_plantillas"),
  kameSetPlantilla: (plantilla: Plantilla) => call<void>("kame_set_plantilla", { plantilla }),
  kameEnvios: () => call<Envio[]>("kame_envios"),
  kameSetConcepto: (rut: string, concepto: string) => call<void>("kame_set_concepto", { rut, concepto }),
  kameFicha: (rut: string) => call<Ficha | null>("kame_ficha", { rut }),
  kameEditFicha: (rut: string, edit: FichaEdit) => call<void>("kame_edit_ficha", { rut, edit }),
  kameAssignConcepto: (ids: string[], concepto: string) => call<ConceptoAsignado>("kame_assign_concepto", { ids, concepto }),
  kameUnidades: () => call<Unidad[]>("kame_unidades"),
  /** The entry as stored (the centro cut to its first 4 characters). */
  kameSetUnidad: (centro: string, unidad: string) => call<Unidad>("kame_set_unidad", { centro, unidad }),
  kamePost: (job: string, ids: string[], filter: ListFilter) => call<PostReport>("kame_post", { job, ids, filter }),
  budgetFamilies: () => call<string[]>("budget_families"),
  budgetCatalog: () => call<BudgetLineDoc[]>("budget_catalog"),
  budgetCatalogSave: (input: BudgetLineInput) => call<BudgetLineDoc>("budget_catalog_save", { input }),
  budgetCatalogSeed: () => call<number>("budget_catalog_seed"),
  obraBudget: (obra: string) => call<ObraBudgetView>("obra_budget", { obra }),
  obraBudgetSetPeriod: (obra: string, desde: string, hasta: string) =>
    call<unknown>("obra_budget_set_period", { obra, desde, hasta }),
  obraBudgetAddLine: (obra: string, lineId: string, inicial: number) =>
    call<ObraLineDoc>("obra_budget_add_line", { obra, lineId, inicial }),
  obraBudgetModify: (obra: string, line: string, monto: number, motivo: string) =>
    call<ObraLineDoc>("obra_budget_modify", { obra, line, monto, motivo }),
  obraBudgetSetWeeks: (obra: string, line: string, weeks: WeekInput[]) =>
    call<ObraLineDoc>("obra_budget_set_weeks", { obra, line, weeks }),
  obraBudgetExport: (obra: string, path: string) => call<void>("obra_budget_export", { obra, path }),
  treasury: (desde: string, semanas: number) => call<TreasuryView>("treasury", { desde, semanas }),
  treasuryBankSave: (input: TreasuryBankInput) => call<void>("treasury_bank_save", { input }),
  treasuryRowSave: (input: TreasuryRowInput) => call<void>("treasury_row_save", { input }),
  treasuryDelete: (kind: "banco" | "fila" | "prestamo", id: string) => call<void>("treasury_delete", { kind, id }),
  loanCreate: (input: LoanInput) => call<LoanDoc>("loan_create", { input }),
  loanUpdate: (edit: LoanEdit) => call<LoanDoc>("loan_update", { edit }),
  loanPayNext: (id: string, fecha: string) => call<LoanDoc>("loan_pay_next", { id, fecha }),
  treasuryExport: (desde: string, semanas: number, path: string) =>
    call<void>("treasury_export", { desde, semanas, path }),
};

/** Download progress of an update. */
export function onUpdateProgress(f: (p: { downloaded: number; total: number | null }) => void): Promise<UnlistenFn> {
  return listen<{ downloaded: number; total: number | null }>("update-progress", (e) => f(e.payload));
}

/** Progress of long jobs (import, export). */
export function onProgress(f: (p: JobProgress) => void): Promise<UnlistenFn> {
  return listen<JobProgress>("job-progress", (e) => f(e.payload));
}

/** File dialogs and "open folder", through Tauri plugins. */
export async function chooseFiles(): Promise<string[]> {
  const { open } = await import("@tauri-apps/plugin-dialog");
  const r = await open({
    multiple: true,
    title: "Elegir archivos para importar",
    filters: [{ name: "Planillas y CSV", extensions: ["xlsx", "xlsm", "xls", "ods", "csv", "txt"] }],
  });
  if (!r) return [];
  return Array.isArray(r) ? r : [r];
}

export async function chooseAttachment(): Promise<string | null> {
  const { open } = await import("@tauri-apps/plugin-dialog");
  const r = await open({
    multiple: false,
    title: "Adjuntar PDF o XML de la factura",
    filters: [{ name: "PDF o XML", extensions: ["pdf", "xml"] }],
  });
  return typeof r === "string" ? r : null;
}

export async function chooseSavePath(defaultName: string): Promise<string | null> {
  const { save } = await import("@tauri-apps/plugin-dialog");
  return save({
    title: "Guardar informe",
    defaultPath: defaultName,
    filters: [
      { name: "Excel", extensions: ["xlsx"] },
      { name: "CSV", extensions: ["csv"] },
    ],
  });
}

export async function revealInFolder(path: string): Promise<void> {
  const { revealItemInDir } = await import("@tauri-apps/plugin-opener");
  await revealItemInDir(path);
}

export function newJobId(): string {
  return `job-${Date.now()}-${Math.floor(Math.random() * 1e6)}`;
}
