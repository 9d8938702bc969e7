pub mod approvals;
pub mod audit;
pub mod exec;
pub mod explain;
pub mod init;
pub mod keys;
pub mod mask;
pub mod serve;
