//! Payments through a Stripe-style API (`POST /v1/payment_intents`, form-encoded, confirmed
//! at once) or a PayPal-style API (client-credentials token, then `POST /v2/checkout/orders`),
//! each behind the circuit breaker its health check probes through, so `/health` shows the
//! state the requests experience and a provider that keeps failing is refused at once.
//!
//! Every call goes through [`pulsecheck::client::send`]: a CLIENT span child of the request's
//! span, with `traceparent` on the wire. A decline is an answer, not an outage: it counts as
//! a success for the breaker; 5xx, timeouts, refused connections and rejected credentials
//! count as failures.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pulsecheck::health::{BreakerConfig, BreakerOpen, CircuitBreaker, Permit};
use reqwest::StatusCode;
use serde::Deserialize;

const STRIPE_BASE: &str = "https://api.stripe.com";
const PAYPAL_BASE: &str = "https://api-m.paypal.com";
/// A PayPal token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    Stripe,
    Paypal,
}

impl Provider {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "stripe" => Some(Self::Stripe),
            "paypal" => Some(Self::Paypal),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Paypal => "paypal",
        }
    }
}

/// What the provider is asked to charge.
pub(crate) struct Charge<'a> {
    pub(crate) enrollment_id: i64,
    pub(crate) amount_cents: i64,
    pub(crate) email: &'a str,
    /// Stripe's `payment_method` (test cards such as `pm_card_visa`).
    pub(crate) payment_method: Option<&'a str>,
}

/// The provider's reference for a successful charge.
pub(crate) struct Receipt {
    pub(crate) id: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PaymentError {
    /// The breaker refuses calls for now.
    #[error(transparent)]
    Open(BreakerOpen),
    /// The provider answered no: card declined, insufficient funds, ...
    #[error("payment declined: {0}")]
    Declined(String),
    /// No usable answer (5xx, timeout, connection, credentials refused, unreadable body).
    #[error("payment provider failed: {0}")]
    Failed(String),
}

/// The configured providers; each is optional.
pub(crate) struct Payments {
    http: reqwest::Client,
    stripe: Option<Stripe>,
    paypal: Option<Paypal>,
}

pub(crate) struct Stripe {
    base: String,
    key: Secret,
    pub(crate) breaker: CircuitBreaker,
}

pub(crate) struct Paypal {
    base: String,
    client_id: Secret,
    secret: Secret,
    pub(crate) breaker: CircuitBreaker,
    token: Mutex<Option<(Secret, Instant)>>,
}

/// A credential that never prints.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Stripe {
    pub(crate) fn new(key: String, base: Option<String>) -> Self {
        Self {
            base: trim_base(base.as_deref().unwrap_or(STRIPE_BASE)),
            key: Secret(key),
            breaker: CircuitBreaker::new("stripe", BreakerConfig::default()),
        }
    }
}

impl Paypal {
    pub(crate) fn new(client_id: String, secret: String, base: Option<String>) -> Self {
        Self {
            base: trim_base(base.as_deref().unwrap_or(PAYPAL_BASE)),
            client_id: Secret(client_id),
            secret: Secret(secret),
            breaker: CircuitBreaker::new("paypal", BreakerConfig::default()),
            token: Mutex::new(None),
        }
    }
}

fn trim_base(base: &str) -> String {
    base.trim_end_matches('/').to_owned()
}

/// A charge allowed by its breaker; [`PendingCharge::run`] records the outcome.
pub(crate) struct PendingCharge<'a> {
    payments: &'a Payments,
    provider: Provider,
    permit: Permit,
}

impl Payments {
    pub(crate) fn new(
        stripe: Option<Stripe>,
        paypal: Option<Paypal>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            http,
            stripe,
            paypal,
        })
    }

    pub(crate) fn stripe(&self) -> Option<&Stripe> {
        self.stripe.as_ref()
    }

    pub(crate) fn paypal(&self) -> Option<&Paypal> {
        self.paypal.as_ref()
    }

    pub(crate) fn is_configured(&self, provider: Provider) -> bool {
        match provider {
            Provider::Stripe => self.stripe.is_some(),
            Provider::Paypal => self.paypal.is_some(),
        }
    }

    /// The provider used when a request names none: Stripe, else PayPal, else none (free).
    pub(crate) fn default_provider(&self) -> Option<Provider> {
        if self.stripe.is_some() {
            Some(Provider::Stripe)
        } else if self.paypal.is_some() {
            Some(Provider::Paypal)
        } else {
            None
        }
    }

    /// Asks the provider's breaker before anything is written, so an open breaker costs
    /// neither a row nor a call. `provider` must be configured.
    pub(crate) fn begin(&self, provider: Provider) -> Result<PendingCharge<'_>, PaymentError> {
        let breaker = match provider {
            Provider::Stripe => self.stripe.as_ref().map(|s| &s.breaker),
            Provider::Paypal => self.paypal.as_ref().map(|p| &p.breaker),
        }
        .ok_or_else(|| PaymentError::Failed(format!("{} is not configured", provider.as_str())))?;
        let permit = breaker.try_acquire().map_err(PaymentError::Open)?;
        Ok(PendingCharge {
            payments: self,
            provider,
            permit,
        })
    }
}

impl PendingCharge<'_> {
    pub(crate) async fn run(self, charge: &Charge<'_>) -> Result<Receipt, PaymentError> {
        let result = match self.provider {
            Provider::Stripe => match &self.payments.stripe {
                Some(stripe) => stripe.charge(&self.payments.http, charge).await,
                None => Err(PaymentError::Failed("stripe is not configured".into())),
            },
            Provider::Paypal => match &self.payments.paypal {
                Some(paypal) => paypal.charge(&self.payments.http, charge).await,
                None => Err(PaymentError::Failed("paypal is not configured".into())),
            },
        };
        match &result {
            Ok(_) | Err(PaymentError::Declined(_)) => self.permit.success(),
            Err(_) => self.permit.failure(),
        }
        result
    }
}

#[derive(Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
}

#[derive(Deserialize, Default)]
struct StripeErrorBody {
    #[serde(default)]
    error: StripeError,
}

#[derive(Deserialize, Default)]
struct StripeError {
    code: Option<String>,
    decline_code: Option<String>,
}

impl Stripe {
    async fn charge(
        &self,
        http: &reqwest::Client,
        charge: &Charge<'_>,
    ) -> Result<Receipt, PaymentError> {
        let enrollment = charge.enrollment_id.to_string();
        let amount = charge.amount_cents.to_string();
        let form = [
            ("amount", amount.as_str()),
            ("currency", "usd"),
            ("confirm", "true"),
            (
                "payment_method",
                charge.payment_method.unwrap_or("pm_card_visa"),
            ),
            ("automatic_payment_methods[enabled]", "true"),
            ("automatic_payment_methods[allow_redirects]", "never"),
            ("receipt_email", charge.email),
            ("metadata[enrollment_id]", enrollment.as_str()),
        ];
        let request = http
            .post(format!("{}/v1/payment_intents", self.base))
            .bearer_auth(&self.key.0)
            // A retried request for the same enrollment never charges twice.
            .header(
                "idempotency-key",
                format!("academy-enrollment-{enrollment}"),
            )
            .form(&form);
        let response = pulsecheck::client::send(request)
            .await
            .map_err(|e| PaymentError::Failed(transport_error(&e)))?;
        let status = response.status();
        if status == StatusCode::PAYMENT_REQUIRED {
            let body: StripeErrorBody = response.json().await.unwrap_or_default();
            let reason = body
                .error
                .decline_code
                .or(body.error.code)
                .unwrap_or_else(|| "card_declined".into());
            return Err(PaymentError::Declined(reason));
        }
        if !status.is_success() {
            return Err(PaymentError::Failed(format!("stripe answered {status}")));
        }
        let intent: PaymentIntent = response
            .json()
            .await
            .map_err(|_| PaymentError::Failed("stripe sent an unreadable payment intent".into()))?;
        match intent.status.as_str() {
            "succeeded" | "processing" => Ok(Receipt { id: intent.id }),
            other => Err(PaymentError::Declined(format!("payment intent {other}"))),
        }
    }
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct Order {
    id: String,
}

impl Paypal {
    async fn token(&self, http: &reqwest::Client) -> Result<Secret, PaymentError> {
        if let Ok(cached) = self.token.lock()
            && let Some((token, until)) = cached.as_ref()
            && Instant::now() < *until
        {
            return Ok(token.clone());
        }
        let request = http
            .post(format!("{}/v1/oauth2/token", self.base))
            .basic_auth(&self.client_id.0, Some(&self.secret.0))
            .form(&[("grant_type", "client_credentials")]);
        let response = pulsecheck::client::send(request)
            .await
            .map_err(|e| PaymentError::Failed(transport_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(PaymentError::Failed(format!(
                "paypal token request answered {status}"
            )));
        }
        let token: Token = response
            .json()
            .await
            .map_err(|_| PaymentError::Failed("paypal sent an unreadable token".into()))?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(300));
        let secret = Secret(token.access_token);
        if let Ok(mut cached) = self.token.lock() {
            *cached = Some((
                secret.clone(),
                Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN),
            ));
        }
        Ok(secret)
    }

    async fn charge(
        &self,
        http: &reqwest::Client,
        charge: &Charge<'_>,
    ) -> Result<Receipt, PaymentError> {
        let token = self.token(http).await?;
        let reference = format!("academy-enrollment-{}", charge.enrollment_id);
        let value = format!(
            "{}.{:02}",
            charge.amount_cents / 100,
            charge.amount_cents % 100
        );
        let body = serde_json::json!({
            "intent": "CAPTURE",
            "purchase_units": [{
                "reference_id": reference,
                "amount": { "currency_code": "USD", "value": value },
            }],
        });
        let request = http
            .post(format!("{}/v2/checkout/orders", self.base))
            .bearer_auth(&token.0)
            // PayPal's idempotency key.
            .header("paypal-request-id", &reference)
            .json(&body);
        let response = pulsecheck::client::send(request)
            .await
            .map_err(|e| PaymentError::Failed(transport_error(&e)))?;
        let status = response.status();
        if status == StatusCode::UNPROCESSABLE_ENTITY {
            // INSTRUMENT_DECLINED and friends.
            return Err(PaymentError::Declined("instrument_declined".into()));
        }
        if status == StatusCode::UNAUTHORIZED {
            // The token was revoked early: forget it so the next charge asks for a new one.
            if let Ok(mut cached) = self.token.lock() {
                *cached = None;
            }
        }
        if !status.is_success() {
            return Err(PaymentError::Failed(format!("paypal answered {status}")));
        }
        let order: Order = response
            .json()
            .await
            .map_err(|_| PaymentError::Failed("paypal sent an unreadable order".into()))?;
        Ok(Receipt { id: order.id })
    }
}

/// A transport failure in a few words: reqwest's message can carry the URL.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}
