//! The `user.UserService` gRPC server: decodes requests, checks the caller
//! ([`access`]), calls [`users`], [`credit`] or the accounts, encodes
//! replies. Errors become statuses through `From<Error> for Status`.

use contracts::user::{self as pb, user_service_server::UserService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use std::sync::Arc;

use contracts::events::UserCreated;
use messaging::outbox::Outbox;

use crate::{
    Error, access, accounts, credit,
    passwords::Passwords,
    tokens::Signer,
    users::{self, NewUser},
};

#[derive(Debug, Clone)]
pub(crate) struct UserGrpc {
    pool: PgPool,
    /// Where a new user's `user_created` is recorded (and which wakes the
    /// relay after the commit).
    outbox: Outbox,
    passwords: Passwords,
    signer: Arc<Signer>,
}

impl UserGrpc {
    pub(crate) fn new(
        pool: PgPool,
        outbox: Outbox,
        passwords: Passwords,
        signer: Arc<Signer>,
    ) -> Self {
        Self {
            pool,
            outbox,
            passwords,
            signer,
        }
    }
}

#[tonic::async_trait]
impl UserService for UserGrpc {
    #[tracing::instrument(name = "FindOne", skip_all)]
    async fn find_one(&self, req: Request<pb::UserById>) -> Result<Response<pb::User>, Status> {
        let caller = access::caller(&req)?;
        let id = users::parse_id(&req.get_ref().id)?;
        access::may_read(&caller, id)?;
        let user = users::find(&self.pool, id).await?;
        Ok(Response::new(user.into()))
    }

    #[tracing::instrument(name = "FindAll", skip_all)]
    async fn find_all(&self, req: Request<pb::ListUsers>) -> Result<Response<pb::Users>, Status> {
        access::admin_only(&access::caller(&req)?)?;
        let pb::ListUsers { limit, offset } = req.into_inner();
        let page = users::list(&self.pool, limit, offset).await?;
        Ok(Response::new(pb::Users {
            users: page.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(name = "Create", skip_all)]
    async fn create(&self, req: Request<pb::CreateUser>) -> Result<Response<pb::User>, Status> {
        let pb::CreateUser {
            name,
            email,
            password,
        } = req.into_inner();
        let new = NewUser::parse(&name, &email, &password)?;
        // A taken email is answered before the hash: the 409 it becomes says
        // nothing a hash made it say before, and a flood of repeats costs no
        // hasher (docs/security.md). The unique index stays the arbiter of a
        // race, in `users::insert`.
        if users::email_taken(&self.pool, &new.email).await? {
            return Err(Error::EmailTaken(new.email).into());
        }
        let hash = self.passwords.hash(&password).await?;
        // The user and its user_created event commit together, or neither.
        let mut tx = self.outbox.begin(&self.pool).await.map_err(Error::from)?;
        let user = users::insert(&mut *tx, new, &hash).await?;
        let event = UserCreated {
            user_id: user.id,
            name: user.name.clone(),
            email: user.email.clone(),
        };
        tx.record(event).await.map_err(Error::from)?;
        // Wakes the relay: the event goes out at once.
        tx.commit().await.map_err(Error::from)?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(Response::new(user.into()))
    }

    #[tracing::instrument(name = "TopUp", skip_all)]
    async fn top_up(
        &self,
        req: Request<pb::CreditChange>,
    ) -> Result<Response<pb::Balance>, Status> {
        access::admin_only(&access::caller(&req)?)?;
        let pb::CreditChange {
            user_id,
            amount_cents,
            idempotency_key,
        } = req.into_inner();
        let user = users::parse_id(&user_id)?;
        let balance = credit::top_up(&self.pool, user, amount_cents, &idempotency_key).await?;
        Ok(Response::new(pb::Balance {
            user_id,
            balance_cents: balance,
        }))
    }

    #[tracing::instrument(name = "IssueToken", skip_all)]
    async fn issue_token(
        &self,
        req: Request<pb::Credentials>,
    ) -> Result<Response<pb::AccessToken>, Status> {
        let pb::Credentials { email, password } = req.into_inner();
        let account = accounts::log_in(&self.pool, &self.passwords, &email, &password).await?;
        let token = self.signer.issue(account.id, account.role)?;
        tracing::info!(user_id = %account.id, "token issued");
        Ok(Response::new(token))
    }

    #[tracing::instrument(name = "GetJwks", skip_all)]
    async fn get_jwks(&self, _req: Request<pb::JwksRequest>) -> Result<Response<pb::Jwks>, Status> {
        Ok(Response::new(pb::Jwks {
            json: self.signer.jwks_json().to_owned(),
        }))
    }

    #[tracing::instrument(name = "Debit", skip_all)]
    async fn debit(&self, req: Request<pb::CreditChange>) -> Result<Response<pb::Balance>, Status> {
        let pb::CreditChange {
            user_id,
            amount_cents,
            idempotency_key,
        } = req.into_inner();
        let user = users::parse_id(&user_id)?;
        let balance = credit::debit(&self.pool, user, amount_cents, &idempotency_key).await?;
        Ok(Response::new(pb::Balance {
            user_id,
            balance_cents: balance,
        }))
    }

    #[tracing::instrument(name = "Refund", skip_all)]
    async fn refund(
        &self,
        req: Request<pb::RefundRequest>,
    ) -> Result<Response<pb::Balance>, Status> {
        let pb::RefundRequest {
            user_id,
            debit_idempotency_key,
        } = req.into_inner();
        let user = users::parse_id(&user_id)?;
        let balance = credit::refund(&self.pool, user, &debit_idempotency_key).await?;
        Ok(Response::new(pb::Balance {
            user_id,
            balance_cents: balance,
        }))
    }
}
