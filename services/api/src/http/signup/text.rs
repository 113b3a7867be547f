//! The hosted pages' words in each language a link can ask for.

use gangway_domain::values::Language;
use gangway_domain::FailureCode;
use serde::Serialize;

#[derive(Serialize)]
pub struct Text {
    pub title: &'static str,
    heading: &'static str,
    intro: &'static str,
    /// The heading and intro naming the company that asks (`{company}`), when the link names it.
    heading_company: &'static str,
    intro_company: &'static str,
    pub shared_heading: &'static str,
    pub shared_account: &'static str,
    pub shared_messages: &'static str,
    pub shared_not_password: &'static str,
    pub expect_heading: &'static str,
    pub step_login: &'static str,
    pub step_business: &'static str,
    pub step_number: &'static str,
    pub step_back: &'static str,
    pub r#continue: &'static str,
    pub continue_coexistence: &'static str,
    pub waiting: &'static str,
    pub finishing: &'static str,
    pub popup_closed: &'static str,
    pub fallback: &'static str,
    pub connected_heading: &'static str,
    pub connected: &'static str,
    pub failed_heading: &'static str,
    pub already_used: &'static str,
    pub expired: &'static str,
    pub revoked: &'static str,
    pub not_found: &'static str,
    pub invalid_session: &'static str,
}

const EN: Text = Text {
    title: "Connect WhatsApp",
    heading: "Connect your WhatsApp Business number",
    intro:
        "You will sign in with Facebook and choose the WhatsApp Business account and phone number to connect.",
    heading_company: "{company} asks you to connect your WhatsApp Business number",
    intro_company: "Sign in with Facebook and choose the WhatsApp Business account and phone number {company} will use for your messages.",
    shared_heading: "What will be shared",
    shared_account: "Access to the WhatsApp Business account you choose, to manage its numbers and message templates.",
    shared_messages: "Permission to send and receive WhatsApp messages on the number you connect.",
    shared_not_password: "Your Facebook password is never shared.",
    expect_heading: "What to expect",
    step_login: "A Facebook window opens: sign in and allow access.",
    step_business: "Choose your business and WhatsApp Business account, or create one.",
    step_number: "Choose the phone number and confirm it with the code you receive.",
    step_back: "You come back here and are sent on automatically.",
    r#continue: "Continue with Facebook",
    continue_coexistence: "I use the WhatsApp Business app on this number",
    waiting: "Finish the steps in the Facebook window…",
    finishing: "Connecting your number…",
    popup_closed: "The Facebook window closed before signup finished. Try again, or continue in a full page.",
    fallback: "Continue in a full page",
    connected_heading: "Your number is connected",
    connected: "WhatsApp Business number connected. You can close this page.",
    failed_heading: "The number could not be connected",
    already_used: "This link has already been used.",
    expired: "This link has expired. Ask for a new one.",
    revoked: "This link was replaced by a newer one. Use the latest link you received.",
    not_found: "This link does not exist.",
    invalid_session: "This signup session is not valid. Open the link again.",
};

const ES: Text = Text {
    title: "Conectar WhatsApp",
    heading: "Conecta tu número de WhatsApp Business",
    intro: "Iniciarás sesión con Facebook y elegirás la cuenta de WhatsApp Business y el número que quieres conectar.",
    heading_company: "{company} te pide conectar tu número de WhatsApp Business",
    intro_company: "Inicia sesión con Facebook y elige la cuenta de WhatsApp Business y el número que {company} usará para tus mensajes.",
    shared_heading: "Qué se compartirá",
    shared_account: "Acceso a la cuenta de WhatsApp Business que elijas, para gestionar sus números y plantillas de mensajes.",
    shared_messages: "Permiso para enviar y recibir mensajes de WhatsApp en el número que conectes.",
    shared_not_password: "Tu contraseña de Facebook nunca se comparte.",
    expect_heading: "Qué esperar",
    step_login: "Se abre una ventana de Facebook: inicia sesión y permite el acceso.",
    step_business: "Elige tu empresa y tu cuenta de WhatsApp Business, o crea una.",
    step_number: "Elige el número de teléfono y confírmalo con el código que recibas.",
    step_back: "Vuelves aquí y continúas automáticamente.",
    r#continue: "Continuar con Facebook",
    continue_coexistence: "Uso la app WhatsApp Business en este número",
    waiting: "Completa los pasos en la ventana de Facebook…",
    finishing: "Conectando tu número…",
    popup_closed: "La ventana de Facebook se cerró antes de terminar. Inténtalo de nuevo o continúa en una página completa.",
    fallback: "Continuar en una página completa",
    connected_heading: "Tu número está conectado",
    connected: "Número de WhatsApp Business conectado. Puedes cerrar esta página.",
    failed_heading: "No se pudo conectar el número",
    already_used: "Este enlace ya se utilizó.",
    expired: "Este enlace ha caducado. Pide uno nuevo.",
    revoked: "Este enlace fue reemplazado por uno más reciente. Usa el último enlace que recibiste.",
    not_found: "Este enlace no existe.",
    invalid_session: "Esta sesión de registro no es válida. Abre el enlace de nuevo.",
};

const PT: Text = Text {
    title: "Conectar WhatsApp",
    heading: "Conecte seu número do WhatsApp Business",
    intro: "Você vai entrar com o Facebook e escolher a conta do WhatsApp Business e o número a conectar.",
    heading_company: "{company} pede que você conecte seu número do WhatsApp Business",
    intro_company: "Entre com o Facebook e escolha a conta do WhatsApp Business e o número que {company} vai usar para suas mensagens.",
    shared_heading: "O que será compartilhado",
    shared_account: "Acesso à conta do WhatsApp Business que você escolher, para gerenciar seus números e modelos de mensagem.",
    shared_messages: "Permissão para enviar e receber mensagens do WhatsApp no número que você conectar.",
    shared_not_password: "Sua senha do Facebook nunca é compartilhada.",
    expect_heading: "O que esperar",
    step_login: "Uma janela do Facebook se abre: entre e permita o acesso.",
    step_business: "Escolha sua empresa e sua conta do WhatsApp Business, ou crie uma.",
    step_number: "Escolha o número de telefone e confirme-o com o código que receber.",
    step_back: "Você volta para cá e segue automaticamente.",
    r#continue: "Continuar com o Facebook",
    continue_coexistence: "Uso o app WhatsApp Business neste número",
    waiting: "Conclua as etapas na janela do Facebook…",
    finishing: "Conectando seu número…",
    popup_closed:
        "A janela do Facebook fechou antes de terminar. Tente de novo ou continue em uma página inteira.",
    fallback: "Continuar em uma página inteira",
    connected_heading: "Seu número está conectado",
    connected: "Número do WhatsApp Business conectado. Você pode fechar esta página.",
    failed_heading: "Não foi possível conectar o número",
    already_used: "Este link já foi usado.",
    expired: "Este link expirou. Peça um novo.",
    revoked: "Este link foi substituído por um mais recente. Use o último link que você recebeu.",
    not_found: "Este link não existe.",
    invalid_session: "Esta sessão de cadastro não é válida. Abra o link novamente.",
};

pub fn text(language: Language) -> &'static Text {
    match language {
        Language::En => &EN,
        Language::Es => &ES,
        Language::Pt => &PT,
    }
}

pub fn language_tag(language: Language) -> &'static str {
    match language {
        Language::En => "en",
        Language::Es => "es",
        Language::Pt => "pt",
    }
}

impl Text {
    /// The page's heading: who asks, when the link names the company.
    pub fn heading(&self, company: Option<&str>) -> String {
        company.map_or_else(
            || self.heading.to_owned(),
            |c| self.heading_company.replace("{company}", c),
        )
    }

    pub fn intro(&self, company: Option<&str>) -> String {
        company.map_or_else(
            || self.intro.to_owned(),
            |c| self.intro_company.replace("{company}", c),
        )
    }

    /// What a refused link says, by the code a failure redirect would carry.
    pub fn refusal(&self, code: FailureCode) -> &'static str {
        match code {
            FailureCode::AlreadyUsed => self.already_used,
            FailureCode::LinkExpired => self.expired,
            FailureCode::LinkRevoked => self.revoked,
            _ => self.failed_heading,
        }
    }
}
