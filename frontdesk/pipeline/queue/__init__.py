"""The job queue: a small protocol with an embedded (jobs table) implementation."""

from frontdesk.pipeline.queue.base import Job, JobQueue

__all__ = ["Job", "JobQueue"]
