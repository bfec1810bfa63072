//! Notices: mails with no link, no code and no secret, asked for after a
//! change has committed, so that the owner of an address learns of what was
//! done to the account. The change stands whatever happens to its notice: a
//! failed request is logged, not answered.

use super::ports::{MailRequest, MailRequests};

pub async fn notify<Q: MailRequests>(queue: &Q, request: MailRequest) {
    if let Err(cause) = queue.request_mail(&request).await {
        tracing::error!(mail = request.name(), cause, "notice not requested");
    }
}
