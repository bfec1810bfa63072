//! `functions/publish-events` against a local EventBridge: moto's server
//! (`moto[server]` in the project's `.venv`, which `make test` installs;
//! `MOTO_SERVER_BIN` overrides the path), reached through the real
//! `aws-sdk-eventbridge` client with an endpoint override. A rule on the bus
//! forwards every event to an SQS queue of the same server, which the test
//! reads back with boto3.

use api_tests::{free_port, Moto, TestApp};
use aws_sdk_eventbridge::config::{BehaviorVersion, Credentials, Region};
use mongodb::bson::doc;
use serde_json::Value;
use users_core::domain::publishing::{publish, Summary};
use users_core::eventbridge::{EventBridge, SOURCE};

const BUS: &str = "user-events";
const QUEUE: &str = "published-events";

/// Moto with the bus, the rule and the queue.
fn start_moto() -> Moto {
    let moto = Moto::start();
    moto.python(SETUP, VARS);
    moto
}

/// Every event the rule forwarded since the last call, in arrival order.
fn take_delivered(moto: &Moto) -> Vec<Value> {
    serde_json::from_str(&moto.python(DRAIN, VARS)).unwrap()
}

const VARS: &[(&str, &str)] = &[("BUS", BUS), ("QUEUE", QUEUE), ("SOURCE", SOURCE)];

const SETUP: &str = r#"
import json, os, boto3
kw = dict(endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
events, sqs = boto3.client("events", **kw), boto3.client("sqs", **kw)
events.create_event_bus(Name=os.environ["BUS"])
queue = sqs.create_queue(QueueName=os.environ["QUEUE"])["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
events.put_rule(Name="all", EventBusName=os.environ["BUS"],
                EventPattern=json.dumps({"source": [os.environ["SOURCE"]]}))
events.put_targets(Rule="all", EventBusName=os.environ["BUS"], Targets=[{"Id": "queue", "Arn": arn}])
"#;

const DRAIN: &str = r#"
import json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1")
queue = sqs.get_queue_url(QueueName=os.environ["QUEUE"])["QueueUrl"]
out = []
while True:
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    if not got:
        break
    for message in got:
        out.append(json.loads(message["Body"]))
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
print(json.dumps(out))
"#;

/// The real client, with fake credentials and the endpoint set on its own
/// configuration rather than in the process environment (tests run in
/// parallel threads).
fn publisher(endpoint: &str) -> EventBridge {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(users_core::aws::sdk::http_client())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .build();
    EventBridge::new(aws_sdk_eventbridge::Client::from_conf(config), BUS.into())
}

/// The outbox's event ids in publishing order.
async fn outbox_ids(app: &TestApp) -> Vec<String> {
    app.outbox_in_order()
        .await
        .iter()
        .map(|entry| entry.get_object_id("_id").unwrap().to_hex())
        .collect()
}

fn ids(delivered: &[Value]) -> Vec<String> {
    delivered
        .iter()
        .map(|event| event["detail"]["id"].as_str().unwrap().to_string())
        .collect()
}

/// Thirteen registrations and a link: fourteen events, a batch and a bit.
async fn fourteen_events(app: &TestApp) -> Vec<String> {
    for n in 0..12 {
        let answer = app
            .register(&format!("user{n}"), &format!("user{n}@example.com"))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
    let user = app.sign_up("linker").await;
    assert_eq!(app.link(&user, "crm-1").await.status, 200);
    let ids = outbox_ids(app).await;
    assert_eq!(ids.len(), 14);
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_arrives_once_in_order_and_is_marked_published() {
    let moto = start_moto();
    let app = TestApp::new().await;
    let expected = fourteen_events(&app).await;

    let summary = publish(&app.store, &publisher(&moto.endpoint))
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            published: 14,
            remaining: 0
        }
    );
    let delivered = take_delivered(&moto);
    assert_eq!(ids(&delivered), expected);

    let first = &delivered[0];
    assert_eq!(first["source"], SOURCE);
    assert_eq!(first["detail-type"], "UserRegistered");
    let detail = first["detail"].as_object().unwrap();
    let mut fields: Vec<&str> = detail.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(fields, ["id", "occurred_at", "type", "user_id"]);
    let last = &delivered[13];
    assert_eq!(last["detail-type"], "ExternalIdLinked");
    assert_eq!(last["detail"]["external_id"], "crm-1");
    assert_eq!(last["detail"]["previous_external_id"], Value::Null);

    // Marked published, with an expiry a week on.
    let published = app
        .outbox()
        .count_documents(
            doc! { "published_at": { "$type": "date" }, "expire_at": { "$type": "date" } },
        )
        .await
        .unwrap();
    assert_eq!(published, 14);
    // Nothing left: the next run sends nothing.
    let again = publish(&app.store, &publisher(&moto.endpoint))
        .await
        .unwrap();
    assert_eq!(
        again,
        Summary {
            published: 0,
            remaining: 0
        }
    );
    assert!(take_delivered(&moto).is_empty());
    app.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_bus_leaves_everything_for_the_next_run() {
    let moto = start_moto();
    let app = TestApp::new().await;
    let expected = fourteen_events(&app).await;

    let dead = format!("http://127.0.0.1:{}", free_port());
    let summary = publish(&app.store, &publisher(&dead)).await.unwrap();
    assert_eq!(
        summary,
        Summary {
            published: 0,
            remaining: 14
        }
    );

    let summary = publish(&app.store, &publisher(&moto.endpoint))
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            published: 14,
            remaining: 0
        }
    );
    assert_eq!(ids(&take_delivered(&moto)), expected);
    app.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_halfway_stops_the_run_and_the_next_run_sends_only_the_rest() {
    let moto = start_moto();
    let app = TestApp::new().await;
    let expected = fourteen_events(&app).await;
    // The 12th event gets a type EventBridge refuses (an empty DetailType):
    // the second batch fails at its second entry.
    let poisoned = mongodb::bson::oid::ObjectId::parse_str(&expected[11]).unwrap();
    app.outbox()
        .update_one(doc! { "_id": poisoned }, doc! { "$set": { "type": "" } })
        .await
        .unwrap();

    let summary = publish(&app.store, &publisher(&moto.endpoint))
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            published: 11,
            remaining: 3
        }
    );
    let first_run = ids(&take_delivered(&moto));
    // EventBridge took the two entries after the refused one as well: they are
    // sent again by the next run (at least once; consumers de-duplicate on id).
    assert_eq!(first_run[..11], expected[..11]);
    assert_eq!(first_run[11..], expected[12..]);

    app.outbox()
        .update_one(
            doc! { "_id": poisoned },
            doc! { "$set": { "type": "UserRegistered" } },
        )
        .await
        .unwrap();
    let summary = publish(&app.store, &publisher(&moto.endpoint))
        .await
        .unwrap();
    assert_eq!(
        summary,
        Summary {
            published: 3,
            remaining: 0
        }
    );
    assert_eq!(ids(&take_delivered(&moto)), expected[11..]);
    app.drop().await;
}
