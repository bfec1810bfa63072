//! Races against the real database: uniqueness, exclusive links, and a delete
//! racing the user's other requests.

use api_tests::{link_event, Event, Function, TestApp};
use futures_util::future::join_all;
use mongodb::bson::{doc, oid::ObjectId};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_registrations_of_one_email_give_exactly_one_201() {
    let app = TestApp::new().await;
    let attempts = (0..50).map(|n| {
        let app = &app;
        async move {
            // Half of them differ only in case: still the same e-mail.
            let email = if n % 2 == 0 {
                "race@example.com"
            } else {
                "RACE@Example.com"
            };
            app.register(&format!("racer{n}"), email).await.status
        }
    });
    let statuses = join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|status| **status == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|status| **status == 409).count(),
        49,
        "{statuses:?}"
    );
    assert_eq!(app.users().count_documents(doc! {}).await.unwrap(), 1);
    app.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_users_linking_one_external_id_at_once_give_one_owner() {
    let app = TestApp::new().await;
    let ada = app.sign_up("ada").await;
    let bob = app.sign_up("bob").await;
    for round in 0..10 {
        let external_id = format!("shared-{round}");
        let (first, second) =
            tokio::join!(app.link(&ada, &external_id), app.link(&bob, &external_id),);
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "round {round}: {} / {}",
            first.body,
            second.body
        );
        let owners = app
            .users()
            .count_documents(doc! { "external_id": &external_id })
            .await
            .unwrap();
        assert_eq!(owners, 1, "round {round}");
    }
    app.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_delete_racing_links_and_reads_leaves_nothing_behind() {
    let app = TestApp::new().await;
    for round in 0..5 {
        let user = app.sign_up(&format!("racer{round}")).await;
        let user_id = ObjectId::parse_str(&user.user_id).unwrap();
        let external_id = format!("crm-{round}");
        assert_eq!(app.link(&user, &external_id).await.status, 200);
        app.linked()
            .insert_many([
                doc! { "_id": &external_id, "plan": "gold" },
                doc! { "_id": format!("note-{round}"), "user_id": user_id },
            ])
            .await
            .unwrap();

        let profile = || {
            Event::http_api("GET", "/users/{user_id}/full_profile")
                .user_id(&user.user_id)
                .bearer(&user.access_token)
        };
        let delete = Event::http_api("DELETE", "/users/{user_id}")
            .user_id(&user.user_id)
            .bearer(&user.access_token);
        let mut requests = vec![(Function::DeleteUser, delete)];
        // Re-linking the same id: linking another id would rightly leave the
        // old id's document behind, as it stops being this user's data.
        for _ in 0..6 {
            requests.push((Function::LinkExternalId, link_event(&user, &external_id)));
            requests.push((Function::GetFullProfile, profile()));
        }
        let answers = join_all(
            requests
                .into_iter()
                .map(|(function, event)| app.call(function, event)),
        )
        .await;

        assert_eq!(answers[0].status, 200, "delete: {}", answers[0].body);
        for answer in &answers[1..] {
            assert!(
                matches!(answer.status, 200 | 401),
                "{} {}",
                answer.status,
                answer.body
            );
        }
        assert_eq!(
            app.users()
                .count_documents(doc! { "_id": user_id })
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            app.sessions()
                .count_documents(doc! { "user_id": user_id })
                .await
                .unwrap(),
            0
        );
        let leftovers = app
            .linked()
            .count_documents(doc! { "$or": [{ "_id": &external_id }, { "user_id": user_id }] })
            .await
            .unwrap();
        assert_eq!(leftovers, 0, "round {round}");
    }
    app.drop().await;
}

/// A login that checks the password before a delete and opens its session
/// after it must not leave a session behind, nor one that refreshes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_session_outlives_its_user_when_a_login_races_the_delete() {
    let app = TestApp::new().await;
    let mut logins_won = 0;
    for round in 0..8 {
        let name = format!("leaver{round}");
        let user = app.sign_up(&name).await;
        let user_id = ObjectId::parse_str(&user.user_id).unwrap();
        let delete = Event::http_api("DELETE", "/users/{user_id}")
            .user_id(&user.user_id)
            .bearer(&user.access_token);
        let email = format!("{name}@example.com");
        // Three logins, so that some check the password before the delete
        // commits and open their session after it.
        let (deleted, first, second, third) = tokio::join!(
            app.call(Function::DeleteUser, delete),
            app.login(&email, api_tests::PASSWORD),
            app.login(&email, api_tests::PASSWORD),
            app.login(&email, api_tests::PASSWORD),
        );
        assert_eq!(deleted.status, 200, "round {round}: {}", deleted.body);
        for login in [first, second, third] {
            assert!(matches!(login.status, 200 | 401), "{}", login.body);
            if login.status == 200 {
                logins_won += 1;
                let refresh_token = login.body["refresh_token"].as_str().unwrap();
                let refreshed = app.refresh(refresh_token).await;
                assert_eq!(
                    refreshed.status, 401,
                    "round {round}: refresh of a deleted user's session"
                );
            }
        }
        assert_eq!(
            app.sessions()
                .count_documents(doc! { "user_id": user_id })
                .await
                .unwrap(),
            0,
            "round {round}: a session outlived its user"
        );
    }
    eprintln!("{logins_won} of 24 logins succeeded before the delete took effect");
    app.drop().await;
}
