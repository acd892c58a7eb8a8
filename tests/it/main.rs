//! Integration tests: the connscope binary over real captures, compared with ground truth
//! that came from elsewhere (the servers' own logs, public captures, properties).

mod checksums;
mod churn;
mod cli;
mod corpus;
mod findings;
mod ground_truth;
mod limits;
mod live;
mod resets;
mod schema;
mod streams;
mod threads;
mod tunnels;
