//! The password policy, shared by the desktop/CLI accounts and the server's.

/// Minimum password length.
pub const MIN_PASSWORD_LEN: usize = 12;
/// Minimum zxcvbn score (0–4).
pub const MIN_PASSWORD_SCORE: u8 = 3;

/// Checks the policy: at least 12 characters and a zxcvbn score of 3 or more, not containing
/// the user name, no leading or trailing spaces.
///
/// # Errors
/// The reason in Spanish (to follow "contraseña rechazada: ").
pub fn check_password_policy(username: &str, password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return Err(format!(
            "tiene {len} caracteres y se exigen al menos {MIN_PASSWORD_LEN}; use una frase de varias palabras"
        ));
    }
    if password.trim() != password {
        return Err("no puede empezar ni terminar con espacios".into());
    }
    if !username.is_empty() && password.to_lowercase().contains(&username.to_lowercase()) {
        return Err("no puede contener el nombre de usuario".into());
    }
    let entropy = zxcvbn::zxcvbn(password, &[username, "icc", "constructora", "facturas"]);
    let score = u8::from(entropy.score());
    if score < MIN_PASSWORD_SCORE {
        return Err(format!(
            "es demasiado fácil de adivinar (fortaleza {score} de 4, se exige {MIN_PASSWORD_SCORE}); evite palabras comunes, \
             secuencias y fechas, y combine varias palabras poco relacionadas"
        ));
    }
    Ok(())
}
