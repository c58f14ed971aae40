//! The `user.UserService` gRPC server: decodes requests, calls [`users`],
//! encodes replies. Errors become statuses through `From<Error> for Status`.

use contracts::user::{self as pb, user_service_server::UserService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::users::{self, NewUser};

#[derive(Debug, Clone)]
pub struct UserGrpc {
    pool: PgPool,
}

impl UserGrpc {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[tonic::async_trait]
impl UserService for UserGrpc {
    #[tracing::instrument(name = "FindOne", skip_all)]
    async fn find_one(&self, req: Request<pb::UserById>) -> Result<Response<pb::User>, Status> {
        let id = users::parse_id(&req.get_ref().id)?;
        let user = users::find(&self.pool, id).await?;
        Ok(Response::new(user.into()))
    }

    #[tracing::instrument(name = "FindAll", skip_all)]
    async fn find_all(&self, req: Request<pb::ListUsers>) -> Result<Response<pb::Users>, Status> {
        let pb::ListUsers { limit, offset } = req.into_inner();
        let page = users::list(&self.pool, limit, offset).await?;
        Ok(Response::new(pb::Users {
            users: page.into_iter().map(Into::into).collect(),
        }))
    }

    #[tracing::instrument(name = "Create", skip_all)]
    async fn create(&self, req: Request<pb::CreateUser>) -> Result<Response<pb::User>, Status> {
        let pb::CreateUser { name, email } = req.into_inner();
        let new = NewUser::parse(&name, &email)?;
        let user = users::insert(&self.pool, new).await?;
        tracing::info!(user_id = %user.id, "user created");
        Ok(Response::new(user.into()))
    }
}
