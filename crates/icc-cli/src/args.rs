//! The command-line grammar (DESIGN.md, "The `icc` command line"), with Spanish help.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand};

/// ICC Facturas: facturas de proveedores de Constructora ICC, desde la línea de comandos.
#[derive(Debug, Parser)]
#[command(
    name = "icc",
    version,
    about,
    disable_help_subcommand = true,
    next_help_heading = "Opciones"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted before or after the command.
#[derive(Debug, Args)]
pub struct Global {
    /// Carpeta de datos (base de datos, adjuntos, registros)
    #[arg(long, global = true, env = "ICC_DATA_DIR", value_name = "CARPETA")]
    pub data_dir: Option<PathBuf>,
    /// Usuario que ejecuta el comando (contraseña en ICC_PASSWORD o por stdin)
    #[arg(long, global = true, env = "ICC_USER", value_name = "NOMBRE")]
    pub user: Option<String>,
    /// Resultado en JSON
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Crea la base de datos y su primer administrador
    Init {
        /// Nombre del administrador
        #[arg(long, value_name = "NOMBRE")]
        admin_user: String,
        /// Lee la contraseña de la entrada estándar (una línea)
        #[arg(long)]
        password_stdin: bool,
    },
    /// Importa facturas: Registro de Compras del SII, Excel (xlsx, xls, ods) o CSV
    Import {
        /// Archivos a importar
        #[arg(required = true, value_name = "ARCHIVO")]
        files: Vec<PathBuf>,
        /// Formato: auto, rcv, iconstruye o generic
        #[arg(long, default_value = "auto")]
        format: String,
        /// Hoja a leer (por defecto la primera con datos)
        #[arg(long, value_name = "HOJA")]
        sheet: Option<String>,
        /// Asignación de columnas en JSON: {"rut": "RUT Proveedor", "folio": "N° Doc", ...}
        #[arg(long, value_name = "ARCHIVO")]
        mapping: Option<PathBuf>,
        /// Usa una asignación de columnas guardada
        #[arg(long, value_name = "NOMBRE", conflicts_with = "mapping")]
        profile: Option<String>,
        /// Guarda la asignación de --mapping con este nombre
        #[arg(long, value_name = "NOMBRE", requires = "mapping")]
        save_profile: Option<String>,
        /// Solo muestra qué se importaría; no escribe nada
        #[arg(long)]
        dry_run: bool,
        /// Qué hacer con documentos que ya existen: skip (omitir) o update (actualizar)
        #[arg(long, default_value = "skip", value_name = "skip|update")]
        on_duplicate: String,
        /// Crea las obras que las filas nombran y no existen (administración) y se las asigna
        /// a las facturas que quedaron sin obra
        #[arg(long)]
        crear_obras: bool,
    },
    /// Facturas: listar, ver, asignar, cambiar estado, historial
    Invoices {
        #[command(subcommand)]
        command: InvoicesCommand,
    },
    /// Exporta un informe a Excel (xlsx) o CSV: facturas, libro-compras, vencimientos, por-obra
    Export {
        /// Informe: facturas, libro-compras, vencimientos o por-obra
        #[arg(value_name = "INFORME")]
        report: String,
        /// Archivo de destino (se reemplaza si existe)
        #[arg(long, value_name = "ARCHIVO")]
        out: PathBuf,
        /// Formato: xlsx o csv (por defecto, según la extensión de --out)
        #[arg(long, value_name = "xlsx|csv")]
        format: Option<String>,
        /// Mes del libro de compras (AAAA-MM)
        #[arg(long, value_name = "AAAA-MM")]
        mes: Option<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Respaldos locales: crear, listar, verificar, restaurar
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// iConstruye: descarga de facturas y notas de corrección
    Iconstruye {
        #[command(subcommand)]
        command: IconstruyeCommand,
    },
    /// Kame: fichas de proveedores, plantillas contables y contabilización de facturas
    Kame {
        #[command(subcommand)]
        command: KameCommand,
    },
    /// Claves de servicios externos en el llavero del sistema (nunca en archivos)
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Cifrado de la base de datos, los adjuntos y los respaldos
    Encryption {
        #[command(subcommand)]
        command: EncryptionCommand,
    },
    /// Vincula este equipo al servidor central e inicia sesión (contraseña del servidor en
    /// ICC_SERVER_PASSWORD o por la entrada estándar)
    Login {
        /// Dirección del servidor, por ejemplo `https://icc.constructora.cl`
        #[arg(long, value_name = "URL")]
        server: String,
        /// Cuenta en el servidor
        #[arg(long, value_name = "NOMBRE")]
        server_user: String,
    },
    /// Envía los cambios de este equipo y recibe los de los demás
    Sync {
        #[command(subcommand)]
        command: Option<SyncCommand>,
    },
    /// Conflictos de sincronización: listar y resolver
    Conflicts {
        #[command(subcommand)]
        command: ConflictsCommand,
    },
    /// Cierra la sesión con el servidor (los cambios siguen guardándose para la próxima vez)
    Logout,
    /// Usuarios y roles
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Obras
    Obras {
        #[command(subcommand)]
        command: ObrasCommand,
    },
    /// Pagos de facturas: registrar pagos y las tasas de interés por mora
    Pagos {
        #[command(subcommand)]
        command: PagosCommand,
    },
    /// Cuentas bancarias de proveedores: ingresar, listar y aprobar (cuatro ojos)
    #[command(name = "cuentas-bancarias")]
    CuentasBancarias {
        #[command(subcommand)]
        command: CuentasCommand,
    },
    /// Cesiones (factoring) de facturas: ingresar y listar
    Cesiones {
        #[command(subcommand)]
        command: CesionesCommand,
    },
    /// Verifica la instalación: carpeta, esquema, integridad, disco
    Doctor,
    /// Migra los datos de la aplicación anterior (constructora_icc.db y su carpeta de archivos)
    #[command(name = "migrate-legacy")]
    MigrateLegacy {
        /// La base SQLite de la aplicación anterior (constructora_icc.db)
        #[arg(long, value_name = "ARCHIVO")]
        db: PathBuf,
        /// La carpeta con facturas.csv, subidas.csv, cuentas.xlsx, UN.xlsx, Santander.xlsx
        #[arg(long, value_name = "CARPETA")]
        files: PathBuf,
    },
    /// Herramientas de desarrollo
    Dev {
        #[command(subcommand)]
        command: DevCommand,
    },
}

/// The invoice filters, shared by `invoices list` and `export`.
#[derive(Debug, Args)]
pub struct FilterArgs {
    /// Código de obra (OB-2026-017)
    #[arg(long)]
    pub obra: Option<String>,
    /// Estado: recibida, en_revision, aprobada, rechazada, parcialmente_pagada, pagada, anulada
    #[arg(long)]
    pub estado: Option<String>,
    /// RUT del proveedor
    #[arg(long, value_name = "RUT")]
    pub proveedor: Option<String>,
    /// Emitidas desde (dd-mm-aaaa o aaaa-mm-dd)
    #[arg(long, value_name = "FECHA")]
    pub desde: Option<String>,
    /// Emitidas hasta (dd-mm-aaaa o aaaa-mm-dd)
    #[arg(long, value_name = "FECHA")]
    pub hasta: Option<String>,
    /// Solo las vencidas e impagas
    #[arg(long)]
    pub vencidas: bool,
    /// Solo las que pueden reclamarse y cuyo plazo vence en DIAS días o menos
    #[arg(long, value_name = "DIAS", num_args = 0..=1, default_missing_value = "2")]
    pub plazo_por_vencer: Option<u32>,
    /// Búsqueda por proveedor, RUT, folio o glosa
    #[arg(long, visible_alias = "filtro", value_name = "TEXTO")]
    pub q: Option<String>,
}

impl FilterArgs {
    /// Whether no filter was given (the whole list).
    pub fn is_empty(&self) -> bool {
        self.obra.is_none()
            && self.estado.is_none()
            && self.proveedor.is_none()
            && self.desde.is_none()
            && self.hasta.is_none()
            && !self.vencidas
            && self.plazo_por_vencer.is_none()
            && self.q.is_none()
    }
}

#[derive(Debug, Subcommand)]
pub enum CuentasCommand {
    /// Ingresa la cuenta de un proveedor; queda pendiente hasta que otra persona la apruebe
    Add {
        /// RUT del proveedor
        #[arg(long)]
        rut: String,
        /// Banco: código (037) o nombre (Santander)
        #[arg(long)]
        banco: String,
        /// corriente, vista, ahorro o rut
        #[arg(long)]
        tipo: String,
        /// Número de cuenta
        #[arg(long)]
        numero: String,
        /// RUT del titular (el del proveedor si no se indica)
        #[arg(long)]
        titular_rut: Option<String>,
        /// Nombre del titular
        #[arg(long)]
        titular: String,
        /// Correo para el aviso de transferencia
        #[arg(long)]
        email: Option<String>,
    },
    /// Lista cuentas (todas las versiones), de la más reciente a la más antigua
    List {
        /// Solo las de este proveedor
        #[arg(long)]
        rut: Option<String>,
        /// pendiente, aprobada, reemplazada o descartada
        #[arg(long)]
        estado: Option<String>,
    },
    /// Aprueba una cuenta pendiente que ingresó otra persona
    Aprobar {
        /// ID de la cuenta
        id: String,
    },
    /// Tabla de bancos y sus códigos
    Bancos,
    /// Crea cuentas pendientes desde una planilla de transferencias (Santander.xlsx de la
    /// aplicación anterior); cada una necesita aprobación
    Importar {
        /// La planilla (.xlsx, .xls, .csv)
        archivo: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum CesionesCommand {
    /// Ingresa una cesión a mano
    Add {
        /// La factura cedida, RUT:TIPO:FOLIO
        #[arg(long)]
        documento: String,
        /// Secuencia en la cadena (1 la primera cesión)
        #[arg(long, default_value_t = 1)]
        seq: u32,
        /// RUT del cedente (el emisor si no se indica)
        #[arg(long)]
        cedente_rut: Option<String>,
        /// RUT del cesionario
        #[arg(long)]
        cesionario_rut: String,
        /// Nombre del cesionario
        #[arg(long)]
        cesionario: String,
        /// Monto cedido en pesos
        #[arg(long)]
        monto: String,
        /// Fecha de la cesión, DD-MM-AAAA o DD-MM-AAAA HH:MM
        #[arg(long)]
        fecha: String,
    },
    /// Lista las cesiones, de un documento o todas
    List {
        /// RUT:TIPO:FOLIO
        #[arg(long)]
        documento: Option<String>,
    },
    /// Importa cesiones del AEC (XML) o de la consulta de cesiones del SII (texto), según su contenido
    Import {
        /// Archivos a importar
        #[arg(required = true, value_name = "ARCHIVO")]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum PagosCommand {
    /// Prepara una nómina de pago (borrador) con las facturas aprobadas que vencen hasta el corte
    Nueva {
        /// Fecha de corte, DD-MM-AAAA (este viernes si no se indica)
        #[arg(long)]
        corte: Option<String>,
    },
    /// Lista las nóminas, de la más reciente a la más antigua
    Lista,
    /// Muestra una nómina (ID o número) con sus líneas y beneficiarios
    Ver {
        /// ID o número de la nómina
        id: String,
    },
    /// Excluye una factura de una nómina en borrador (de una aprobada, solo si ya no se
    /// debe como se aprobó)
    Excluir {
        /// ID o número de la nómina
        id: String,
        /// RUT:TIPO:FOLIO de la factura
        factura: String,
    },
    /// Vuelve a incluir una factura en una nómina en borrador
    Incluir {
        /// ID o número de la nómina
        id: String,
        /// RUT:TIPO:FOLIO de la factura
        factura: String,
    },
    /// Paga parte del saldo de una factura en una nómina en borrador
    Parcial {
        /// ID o número de la nómina
        id: String,
        /// RUT:TIPO:FOLIO de la factura
        factura: String,
        /// Monto a pagar en esta nómina
        #[arg(long)]
        monto: String,
    },
    /// Aprueba una nómina en borrador (gerente); desde entonces no cambia
    Aprobar {
        /// ID o número de la nómina
        id: String,
    },
    /// Escribe el archivo de transferencias del banco de una nómina aprobada
    #[command(name = "archivo-banco")]
    ArchivoBanco {
        /// ID o número de la nómina
        id: String,
        /// Archivo a escribir (.xlsx)
        #[arg(long, value_name = "ARCHIVO")]
        out: std::path::PathBuf,
    },
    /// Escribe el informe de una nómina en Excel (líneas, motivos, totales por beneficiario)
    Informe {
        /// ID o número de la nómina
        id: String,
        /// Archivo a escribir (.xlsx)
        #[arg(long, value_name = "ARCHIVO")]
        out: std::path::PathBuf,
    },
    /// Marca una nómina aprobada como enviada al banco
    #[command(name = "marcar-enviada")]
    MarcarEnviada {
        /// ID o número de la nómina
        id: String,
    },
    /// Marca una nómina como pagada: registra un pago por cada línea incluida
    #[command(name = "marcar-pagada")]
    MarcarPagada {
        /// ID o número de la nómina
        id: String,
        /// Fecha del pago, DD-MM-AAAA (hoy si no se indica)
        #[arg(long)]
        fecha: Option<String>,
    },
    /// Registra un pago de una factura aprobada (nunca más que su saldo)
    Registrar {
        /// ID o RUT:TIPO:FOLIO de la factura
        factura: String,
        /// Monto en pesos (1.500.000 o 1500000)
        #[arg(long)]
        monto: String,
        /// Fecha del pago, DD-MM-AAAA (hoy si no se indica)
        #[arg(long)]
        fecha: Option<String>,
        /// transferencia, cheque, vale_vista, compensacion u otro (transferencia si no se indica)
        #[arg(long)]
        medio: Option<String>,
        /// Referencia: número de operación, de cheque, ...
        #[arg(long)]
        referencia: Option<String>,
    },
    /// Saldo, pagos e interés por mora de una factura
    Saldo {
        /// ID o RUT:TIPO:FOLIO de la factura
        factura: String,
    },
    /// Fija la tasa de interés corriente (CMF, anual) de un mes: icc pagos tasa 03-2026 24,32
    Tasa {
        /// Mes, MM-AAAA
        mes: String,
        /// Tasa anual en porcentaje, por ejemplo 24,32
        tasa: String,
    },
    /// Lista las tasas de interés por mes
    Tasas,
    /// Muestra las reglas de pago de la empresa
    Configuracion,
    /// Cambia las reglas de pago de la empresa (solo administración)
    Configurar {
        /// Facturas cedidas de $10.000.000 o más se pagan a 60 días: si o no
        #[arg(long, value_name = "si|no")]
        regla_60_dias: Option<String>,
        /// Monto máximo de una transferencia; las mayores se dividen en partes
        #[arg(long, value_name = "MONTO")]
        limite: Option<String>,
        /// Una transferencia por cuenta del beneficiario en vez de una por factura: si o no
        #[arg(long, value_name = "si|no")]
        agrupar: Option<String>,
        /// Servidor SMTP de los correos de nóminas (con STARTTLS); "" lo borra
        #[arg(long, value_name = "HOST")]
        correo_servidor: Option<String>,
        /// Puerto SMTP (587 si no se indica)
        #[arg(long, value_name = "PUERTO")]
        correo_puerto: Option<u16>,
        /// Usuario SMTP (la clave va al llavero: icc credentials set correo-smtp)
        #[arg(long, value_name = "USUARIO")]
        correo_usuario: Option<String>,
        /// Remitente, por ejemplo "Nóminas ICC <nominas@icc.cl>"
        #[arg(long, value_name = "DIRECCIÓN")]
        correo_remitente: Option<String>,
        /// Destinatarios separados por comas
        #[arg(long, value_name = "DIRECCIONES")]
        correo_destinatarios: Option<String>,
        /// Certificado (PEM) de la autoridad del servidor de correo interno, además de los del sistema
        #[arg(long, value_name = "ARCHIVO")]
        correo_ca: Option<String>,
        /// RUT de la empresa: las cesiones de facturas recibidas por otro se rechazan
        #[arg(long, value_name = "RUT")]
        rut_empresa: Option<String>,
    },
    /// Envía una nómina por correo a los destinatarios configurados, con su planilla adjunta
    #[command(name = "enviar-correo")]
    EnviarCorreo {
        /// ID o número de la nómina
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum InvoicesCommand {
    /// Lista facturas, de la más reciente a la más antigua, por páginas
    List {
        #[command(flatten)]
        filters: FilterArgs,
        /// Filas por página (máximo 1000)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Cursor de la página siguiente (next_cursor)
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Muestra una factura (ID o RUT:TIPO:FOLIO)
    Show {
        /// ID o RUT:TIPO:FOLIO
        id: String,
    },
    /// Historial de cambios de una factura
    History {
        /// ID o RUT:TIPO:FOLIO
        id: String,
    },
    /// Asigna obra, centro de costo, cuenta o glosa (un valor vacío lo borra)
    Set {
        /// ID o RUT:TIPO:FOLIO
        id: String,
        /// Código de obra
        #[arg(long)]
        obra: Option<String>,
        /// Centro de costo
        #[arg(long)]
        centro_costo: Option<String>,
        /// Cuenta contable
        #[arg(long)]
        cuenta: Option<String>,
        /// Glosa
        #[arg(long)]
        glosa: Option<String>,
    },
    /// Cambia el estado de una factura
    Estado {
        /// ID o RUT:TIPO:FOLIO
        id: String,
        /// Nuevo estado
        estado: String,
        /// Motivo (obligatorio para rechazar)
        #[arg(long)]
        motivo: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Toma un respaldo ahora (base de datos y adjuntos), lo verifica y rota los antiguos
    Create,
    /// Muestra la carpeta de respaldos, o la cambia (por ejemplo a otro disco)
    Dir {
        /// Carpeta nueva (se crea si no existe)
        #[arg(value_name = "CARPETA")]
        path: Option<PathBuf>,
    },
    /// Lista los respaldos, del más reciente al más antiguo
    List,
    /// Verifica un respaldo (el más reciente si no se indica)
    Verify {
        /// Respaldo (AAAAMMDD-HHMMSS)
        id: Option<String>,
    },
    /// Restaura un respaldo; antes guarda una copia de seguridad de la base actual
    Restore {
        /// Respaldo (AAAAMMDD-HHMMSS)
        #[arg(required_unless_present = "latest", conflicts_with = "latest")]
        id: Option<String>,
        /// El más reciente
        #[arg(long)]
        latest: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum IconstruyeCommand {
    /// Descarga los documentos recibidos entre dos fechas, en ventanas de hasta 30 días
    Pull {
        /// Primer día (AAAA-MM-DD o dd-mm-aaaa; por defecto, donde terminó la última descarga)
        #[arg(long, value_name = "FECHA")]
        desde: Option<String>,
        /// Último día (por defecto, hoy)
        #[arg(long, value_name = "FECHA")]
        hasta: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KameCommand {
    /// Muestra la configuración de Kame y cuántas facturas hay en cada estado de envío
    Estado,
    /// Configura el acceso (el secreto va aparte: `icc credentials set kame`)
    Configurar {
        /// client_id de la API de Kame
        #[arg(long)]
        client_id: String,
        /// Usuario de Kame con que se registran los comprobantes
        #[arg(long)]
        usuario: String,
        /// Dirección de la API (por defecto, la pública de Kame: api.kameone.cl)
        #[arg(long)]
        url: Option<String>,
    },
    /// Trae las fichas de proveedores desde Kame (getListFicha); las editadas aquí se conservan
    Fichas,
    /// Asigna el concepto de compra de un proveedor aquí (se conserva al traer las fichas)
    Concepto {
        /// RUT del proveedor
        rut: String,
        /// Concepto de compra (el de su plantilla contable)
        concepto: String,
    },
    /// Muestra la ficha de un proveedor y, con opciones, la edita aquí (se conserva al
    /// traer las fichas)
    Ficha {
        /// RUT del proveedor
        rut: String,
        /// Concepto de compra (el de su plantilla contable)
        #[arg(long)]
        concepto: Option<String>,
        /// Marca de proveedor de Kame: si o no
        #[arg(long, value_name = "si|no")]
        proveedor: Option<String>,
        /// Marca de honorario de Kame: si o no
        #[arg(long, value_name = "si|no")]
        honorario: Option<String>,
    },
    /// Asigna un concepto de compra a los proveedores de varias facturas (las que dejan de
    /// estar «sin cuenta»)
    Asignar {
        /// Concepto de compra; debe tener plantilla contable
        #[arg(long)]
        concepto: String,
        /// Facturas (id o RUT:TIPO:FOLIO), separadas por comas; sin ellas, las del filtro
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
    /// Plantillas contables por concepto de compra
    Plantilla {
        #[command(subcommand)]
        command: PlantillaCommand,
    },
    /// Asocia un centro de gestión (sus 4 primeros caracteres) a una unidad de negocio
    Unidad {
        /// Centro de gestión
        centro: String,
        /// Unidad de negocio de Kame
        unidad: String,
    },
    /// Trae lo que la aplicación anterior tenía para Kame (cuentas.xlsx, UN.xlsx y su registro
    /// de subidas, archivados por migrate-legacy); las facturas ya subidas no se reenvían
    ImportarAnterior {
        /// Cuenta del IVA crédito fiscal para las plantillas creadas
        #[arg(long)]
        iva: String,
        /// Cuenta de proveedores por pagar para las plantillas creadas
        #[arg(long)]
        proveedor: String,
    },
    /// Contabiliza facturas en Kame: un comprobante por factura, nunca dos
    Post {
        /// Facturas (id o RUT:TIPO:FOLIO), separadas por comas; sin ellas, las del filtro
        #[arg(long, value_delimiter = ',')]
        ids: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum PlantillaCommand {
    /// Lista las plantillas
    List,
    /// Crea o reemplaza la plantilla de un concepto
    Set {
        /// Concepto de compra
        #[arg(long)]
        concepto: String,
        /// Cuenta del neto (debe)
        #[arg(long)]
        neto: String,
        /// Cuenta del exento (debe; por defecto, la del neto)
        #[arg(long)]
        exento: Option<String>,
        /// Cuenta del IVA crédito fiscal (debe)
        #[arg(long)]
        iva: String,
        /// Cuenta de otros impuestos (debe)
        #[arg(long)]
        otros: Option<String>,
        /// Cuenta de proveedores por pagar (haber)
        #[arg(long)]
        proveedor: String,
        /// TRASPASO, INGRESO o EGRESO
        #[arg(long, default_value = "TRASPASO")]
        tipo: String,
        /// Permite que la cuenta de proveedores sea también una del debe
        #[arg(long)]
        misma_cuenta: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Lista los cambios que el servidor rechazó (apartados, sin frenar los demás)
    Refused,
    /// Descarta un cambio rechazado: vuelve a poner aquí el valor del servidor
    Discard {
        /// Identificador del cambio (op_id, de `icc sync refused`)
        op_id: String,
    },
    /// Lista las facturas retiradas de este equipo porque dejaron de ser de sus obras
    Removed,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// Lista los conflictos (abiertos primero)
    List,
    /// Resuelve un conflicto quedándose con un valor
    Resolve {
        /// Número del conflicto
        id: i64,
        /// mine (el valor de este equipo, el que perdió) o theirs (el que ganó)
        #[arg(long, value_name = "mine|theirs")]
        keep: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EncryptionCommand {
    /// Dice si la carpeta de datos está cifrada
    Status,
    /// Muestra la clave de recuperación para imprimirla (administradores, con --user)
    RecoveryKey,
    /// Vuelve a guardar la clave en el llavero a partir de la clave de recuperación
    /// (leída de la entrada estándar), cuando el llavero se perdió
    Recover,
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Guarda una clave, leída de la entrada estándar
    Set {
        /// iconstruye-facturas, iconstruye-facturas-secundaria, iconstruye-ordenes o iconstruye-ordenes-secundaria
        #[arg(value_name = "NOMBRE")]
        name: String,
    },
    /// Elimina una clave
    Delete {
        /// Nombre de la clave
        #[arg(value_name = "NOMBRE")]
        name: String,
    },
    /// Muestra qué claves están guardadas (nunca su valor)
    List,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Crea un usuario
    Add {
        /// Nombre de usuario
        name: String,
        /// Rol: admin, gerente, contabilidad, admin_obra
        #[arg(long)]
        role: String,
        /// Obras asignadas, separadas por comas (para admin_obra)
        #[arg(long, value_name = "A,B")]
        obras: Option<String>,
        /// Lee la contraseña del nuevo usuario de la entrada estándar
        #[arg(long)]
        password_stdin: bool,
    },
    /// Lista los usuarios
    List,
    /// Cambia la contraseña de un usuario
    Passwd {
        /// Nombre de usuario
        name: String,
        /// Lee la nueva contraseña de la entrada estándar
        #[arg(long)]
        password_stdin: bool,
    },
    /// Deshabilita un usuario
    Disable {
        /// Nombre de usuario
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ObrasCommand {
    /// Crea una obra
    Add {
        /// Código (OB-2026-017)
        codigo: Option<String>,
        /// Nombre
        nombre: Option<String>,
        /// Nombre (alternativa al argumento)
        #[arg(long = "nombre")]
        nombre_flag: Option<String>,
        /// Código (alternativa al argumento)
        #[arg(long = "codigo")]
        codigo_flag: Option<String>,
    },
    /// Lista las obras visibles para el usuario
    List,
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Genera facturas realistas de prueba
    Seed {
        /// Cuántas facturas
        #[arg(long)]
        invoices: u64,
        /// Semilla para repetir los mismos datos
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Genera una base y archivos con la forma de la aplicación anterior (para ensayar la migración)
    #[command(name = "legacy-fixture")]
    LegacyFixture {
        /// Carpeta donde escribirlos (constructora_icc.db y datos/)
        #[arg(long, value_name = "CARPETA")]
        out: PathBuf,
        /// Facturas comunes en facturas.csv
        #[arg(long, default_value_t = 60)]
        invoices: usize,
        /// Deja facturas_subidas_datos.csv vacío
        #[arg(long)]
        empty_subidas_datos: bool,
    },
}

fn context(e: &clap::Error, kind: ContextKind) -> String {
    match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        Some(ContextValue::Strings(v)) => v.join(", "),
        _ => String::new(),
    }
}

/// Prints a parse error in Spanish (help and version go to stdout as usual) and returns the
/// exit code: 0 for help/version, 2 for usage errors.
pub fn report_clap_error(e: clap::Error) -> ExitCode {
    let msg = match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(
                if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    2
                } else {
                    0
                },
            );
        }
        ErrorKind::UnknownArgument => format!(
            "argumento desconocido «{}»",
            context(&e, ContextKind::InvalidArg)
        ),
        ErrorKind::InvalidSubcommand => format!(
            "comando desconocido «{}»",
            context(&e, ContextKind::InvalidSubcommand)
        ),
        ErrorKind::MissingRequiredArgument => format!(
            "falta un argumento obligatorio: {}",
            context(&e, ContextKind::InvalidArg)
        ),
        ErrorKind::MissingSubcommand => "falta el comando".to_owned(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => format!(
            "{}: el valor «{}» no es válido",
            context(&e, ContextKind::InvalidArg),
            context(&e, ContextKind::InvalidValue)
        ),
        ErrorKind::ArgumentConflict => format!(
            "argumentos incompatibles: {}",
            context(&e, ContextKind::InvalidArg)
        ),
        _ => e.kind().to_string(),
    };
    eprintln!(
        "error de uso: {msg}\n(use `icc --help` o `icc COMANDO --help` para ver las opciones)"
    );
    ExitCode::from(2)
}
