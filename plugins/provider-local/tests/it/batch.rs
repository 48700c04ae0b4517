//! Several sequences in one batch (`parallel-sequences`): the same answers as one request at a
//! time, prompt reuse across repeats, cancellation of one sequence among others.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use llmbench_plugin_host::PluginProvider;
use llmbench_plugin_sdk::core::{Message, PluginContext, Provider};
use provider_local::LocalProvider;
use provider_local::engine::{
    BatchSession, EngineOptions, Finish, Finished, GenerateParams, Generation, Model, Token,
};
use serde_json::json;

/// The founding task's prompt (configs/tasks/race-condition), rendered for its one item.
fn founding_prompt() -> String {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/tasks/race-condition"
    );
    let task = std::fs::read_to_string(format!("{dir}/task.md")).unwrap();
    let items = std::fs::read_to_string(format!("{dir}/items.jsonl")).unwrap();
    let item: serde_json::Value = serde_json::from_str(items.lines().next().unwrap()).unwrap();
    task.replace("{{ code }}", item["code"].as_str().unwrap())
}

fn greedy(max_tokens: u32) -> GenerateParams {
    GenerateParams {
        max_tokens,
        ..GenerateParams::default()
    }
}

fn seeded(max_tokens: u32, seed: u32) -> GenerateParams {
    GenerateParams {
        max_tokens,
        temperature: Some(0.9),
        top_p: Some(0.95),
        top_k: Some(40),
        seed,
        ..GenerateParams::default()
    }
}

fn options(parallel_sequences: u32) -> EngineOptions {
    EngineOptions {
        parallel_sequences,
        ..EngineOptions::default()
    }
}

/// One request at a time, each in a fresh session: the reference.
fn sequential(model: &Model, prompt: &[Token], params: &GenerateParams) -> Generation {
    let mut session = model.session(&EngineOptions::default()).unwrap();
    session
        .generate(prompt, params, &AtomicBool::new(false))
        .unwrap()
}

/// Step until every running request has ended; results by tag.
fn run_out(session: &mut BatchSession<'_, usize>, ended: &mut Vec<Finished<usize>>) {
    while session.running() > 0 {
        ended.extend(session.step());
    }
}

fn by_tag(mut ended: Vec<Finished<usize>>) -> Vec<Generation> {
    ended.sort_by_key(|f| f.tag);
    ended.into_iter().map(|f| f.result.unwrap()).collect()
}

fn assert_same(batched: &Generation, reference: &Generation, what: &str) {
    assert_eq!(batched.text, reference.text, "{what}");
    assert_eq!(batched.output_tokens, reference.output_tokens, "{what}");
    assert_eq!(batched.prompt_tokens, reference.prompt_tokens, "{what}");
    assert_eq!(batched.finish, reference.finish, "{what}");
}

#[test]
fn four_greedy_repeats_batched_are_the_sequential_answer() {
    let model = crate::model();
    let prompt = model.prompt_tokens(None, &[Message::user(founding_prompt())]);
    let params = greedy(96);
    let reference = sequential(&model, &prompt, &params);
    assert_eq!(reference.output_tokens, 96, "{reference:?}");

    let mut session = model.batch_session(&options(4)).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let mut ended = Vec::new();
    for tag in 0..4 {
        ended.extend(session.admit(tag, &prompt, &params, Arc::clone(&never)));
    }
    assert!(ended.is_empty() && !session.has_room());
    run_out(&mut session, &mut ended);
    for (i, g) in by_tag(ended).iter().enumerate() {
        assert_same(g, &reference, &format!("repeat {i}"));
    }
    // The prompt was read once; every step decoded the four sequences together.
    assert_eq!(session.prompts_reused(), 3);
    assert_eq!(session.widest_step(), 4);

    // A finished sequence keeps its prompt: a fifth repeat reads nothing and agrees too.
    let mut ended: Vec<_> = session
        .admit(4, &prompt, &params, never)
        .into_iter()
        .collect();
    run_out(&mut session, &mut ended);
    assert_same(&by_tag(ended)[0], &reference, "repeat 4");
    assert_eq!(session.prompts_reused(), 4);
}

#[test]
fn requests_joining_mid_answer_and_other_prompts_agree_with_sequential() {
    let model = crate::model();
    let prompts: Vec<Vec<Token>> = [
        "Name three colours of the rainbow.",
        "Explain what a mutex is in two sentences.",
        "Write a haiku about the sea.",
    ]
    .iter()
    .map(|p| model.prompt_tokens(None, &[Message::user(*p)]))
    .collect();
    // Tag -> (prompt, params); tag 3 repeats prompt 0 with a seed, tag 4 prompt 1 greedy
    // with a stop string, tag 5 repeats prompt 0 greedily while tag 0 still runs (its cells
    // are copied from the running sequence, answer so far dropped).
    let requests = [
        (0, greedy(40)),
        (1, greedy(24)),
        (2, seeded(30, 7)),
        (0, seeded(30, 7)),
        (
            1,
            GenerateParams {
                stop: vec!["mutex".to_owned()],
                ..greedy(30)
            },
        ),
        (0, greedy(20)),
    ];
    let references: Vec<Generation> = requests
        .iter()
        .map(|(p, params)| sequential(&model, &prompts[*p], params))
        .collect();

    // Three slots: the first three requests start together, the others join as slots free
    // up or after a few steps.
    let mut session = model.batch_session(&options(3)).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let mut ended = Vec::new();
    let mut waiting = requests.iter().enumerate().peekable();
    let mut steps = 0;
    loop {
        while session.has_room() && (steps >= 5 || session.running() < 2) {
            let Some((tag, (p, params))) = waiting.next() else {
                break;
            };
            ended.extend(session.admit(tag, &prompts[*p], params, Arc::clone(&never)));
        }
        if session.running() == 0 && waiting.peek().is_none() {
            break;
        }
        ended.extend(session.step());
        steps += 1;
    }
    let batched = by_tag(ended);
    assert_eq!(batched.len(), requests.len());
    for (tag, (g, r)) in batched.iter().zip(&references).enumerate() {
        assert_same(g, r, &format!("request {tag}"));
    }
    assert_eq!(
        references[4].finish,
        Finish::StopString,
        "{:?}",
        references[4]
    );
    assert!(
        session.prompts_reused() >= 2,
        "{}",
        session.prompts_reused()
    );
    assert!(session.widest_step() >= 2);
}

#[test]
fn seeded_repeats_batched_draw_what_they_draw_alone() {
    let model = crate::model();
    let prompt = model.prompt_tokens(None, &[Message::user("Tell me a short joke.")]);
    let references: Vec<Generation> = (1..=4)
        .map(|seed| sequential(&model, &prompt, &seeded(32, seed)))
        .collect();
    assert!(
        references.iter().any(|r| r.text != references[0].text),
        "different seeds explore: {references:?}"
    );
    let mut session = model.batch_session(&options(4)).unwrap();
    let never = Arc::new(AtomicBool::new(false));
    let mut ended = Vec::new();
    for seed in 1..=4 {
        let tag = seed as usize - 1;
        ended.extend(session.admit(tag, &prompt, &seeded(32, seed), Arc::clone(&never)));
    }
    run_out(&mut session, &mut ended);
    for (seed, (g, r)) in (1..).zip(by_tag(ended).iter().zip(&references)) {
        assert_same(g, r, &format!("seed {seed}"));
    }
}

#[test]
fn a_cancelled_sequence_frees_its_cells_and_leaves_the_others_alone() {
    let model = crate::model();
    let long = model.prompt_tokens(None, &[Message::user(crate::LONG_ANSWER)]);
    let short = model.prompt_tokens(None, &[Message::user("Name three colours of the rainbow.")]);
    let reference = sequential(&model, &short, &greedy(40));

    let mut session = model.batch_session(&options(2)).unwrap();
    let cancel = Arc::new(AtomicBool::new(false));
    let never = Arc::new(AtomicBool::new(false));
    let mut ended = Vec::new();
    ended.extend(session.admit(0, &long, &greedy(3000), Arc::clone(&cancel)));
    ended.extend(session.admit(1, &short, &greedy(40), never));
    for _ in 0..10 {
        ended.extend(session.step());
    }
    assert!(ended.is_empty());
    cancel.store(true, Ordering::Relaxed);
    ended.extend(session.step());
    assert_eq!(ended.len(), 1, "only the cancelled request ends");
    assert_eq!(session.running(), 1);
    run_out(&mut session, &mut ended);
    let results = by_tag(ended);
    assert_eq!(results[0].finish, Finish::Cancelled);
    assert_eq!(
        results[0].output_tokens, 11,
        "one token at admission, one per step"
    );
    assert_same(&results[1], &reference, "the other sequence");

    // The cancelled prompt's cells are gone (it is read again); the finished one's stay.
    let reused = session.prompts_reused();
    let mut ended: Vec<_> = session
        .admit(2, &long, &greedy(3), Arc::new(AtomicBool::new(false)))
        .into_iter()
        .collect();
    assert_eq!(session.prompts_reused(), reused);
    ended.extend(session.admit(3, &short, &greedy(40), Arc::new(AtomicBool::new(false))));
    assert_eq!(session.prompts_reused(), reused + 1);
    run_out(&mut session, &mut ended);
    let results = by_tag(ended);
    assert_eq!(results[0].text, sequential(&model, &long, &greedy(3)).text);
    assert_same(&results[1], &reference, "the short prompt again");
}

#[test]
fn a_prompt_longer_than_a_sequences_context_is_refused() {
    let model = crate::model();
    let mut session = model
        .batch_session::<usize>(&EngineOptions {
            context_tokens: 32,
            parallel_sequences: 2,
            ..EngineOptions::default()
        })
        .unwrap();
    let prompt = model.prompt_tokens(None, &[Message::user("word ".repeat(100))]);
    let ended = session
        .admit(0, &prompt, &greedy(4), Arc::new(AtomicBool::new(false)))
        .expect("refused at once");
    let e = ended.result.unwrap_err();
    assert!(e.to_string().contains("context holds 32"), "{e}");
    assert_eq!(session.running(), 0);
}

/// Through the provider: four concurrent calls of one greedy request share a batch and get
/// the sequential answer, usage included.
#[tokio::test]
async fn concurrent_calls_share_a_batch_with_the_sequential_answers() {
    let mut request = crate::provider::request(&founding_prompt(), 48);
    request.system = Some("You are a careful Python reviewer.".into());
    let one = LocalProvider::start(crate::model_path(), EngineOptions::default()).unwrap();
    let reference = one.complete(&request).await.unwrap();
    drop(one);

    let p = LocalProvider::start(crate::model_path(), options(4)).unwrap();
    let (a, b, c, d) = tokio::join!(
        p.complete(&request),
        p.complete(&request),
        p.complete(&request),
        p.complete(&request)
    );
    for (i, c) in [a, b, c, d].into_iter().enumerate() {
        let c = c.unwrap();
        assert_eq!(c.text, reference.text, "call {i}");
        assert_eq!(c.usage, reference.usage, "call {i}");
        assert_eq!(c.stop_reason, reference.stop_reason, "call {i}");
        let ttft = c.timings.time_to_first_token.expect("streamed");
        assert!(ttft <= c.timings.latency, "call {i}: {c:?}");
    }
    let stats = p.stats();
    assert_eq!(stats.completed.load(Ordering::Relaxed), 4);
    assert_eq!(stats.widest_step.load(Ordering::Relaxed), 4);
    assert_eq!(stats.prompts_reused.load(Ordering::Relaxed), 3);
}

fn plugin(options: serde_json::Value) -> Result<PluginProvider, String> {
    crate::model_path();
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    PluginProvider::new(&plugin, &options, &PluginContext::default()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_plugin_batches_under_the_conformance_checks() {
    let p = plugin(json!({ "parallel-sequences": 3 })).expect("plugin starts");
    llmbench_conformance::generic::concurrent_calls(&p, "Name a colour.").await;
    llmbench_conformance::generic::cancel_on_drop(&p, crate::LONG_ANSWER, "Say hello.").await;
}

#[test]
fn the_plugin_checks_parallel_sequences() {
    let e = plugin(json!({ "parallel-sequences": 0 })).unwrap_err();
    assert!(
        e.contains("`parallel-sequences` must be between 1 and 64"),
        "{e}"
    );
    let e = plugin(json!({ "parallel-sequences": 8, "batch-tokens": 4 })).unwrap_err();
    assert!(e.contains("at most `batch-tokens` (4)"), "{e}");
}
