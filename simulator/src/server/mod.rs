//! The fake SPID Server. (Being written.)
