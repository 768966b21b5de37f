package test

import "testing"

// The IPC namespace: System V shared memory, semaphores and message
// queues, POSIX message queues, /proc/sysvipc and ipcs. Each C program
// unshares an IPC namespace natively (the sandbox's is its own), so both
// runs start from an empty namespace and identifiers match.

// TestCIPCShm compares c/ipc_shm.c: shmget/shmat/shmdt/shmctl, attach
// counts through fork, exec, exit and mprotect splits, IPC_RMID while
// attached, SHM_LOCK, the info commands and the permission checks.
func TestCIPCShm(t *testing.T) { compareC(t, "ipc_shm", 0) }

// TestCIPCSem compares c/ipc_sem.c: semget/semop/semtimedop/semctl,
// blocking and waking, EIDRM and EINTR for waiters, SEM_UNDO at exit.
func TestCIPCSem(t *testing.T) { compareC(t, "ipc_sem", 0) }

// TestCIPCMsg compares c/ipc_msg.c: msgget/msgsnd/msgrcv/msgctl, every
// msgtyp mode, MSG_NOERROR, MSG_COPY, blocking senders and receivers.
func TestCIPCMsg(t *testing.T) { compareC(t, "ipc_msg", 0) }

// TestCIPCMqueue compares c/ipc_mqueue.c: mq_open/mq_timedsend/
// mq_timedreceive/mq_notify/mq_getsetattr/mq_unlink, priorities, blocking,
// timeouts, poll readiness and the mqueue filesystem's listing and status
// lines.
func TestCIPCMqueue(t *testing.T) { compareC(t, "ipc_mqueue", 0) }
