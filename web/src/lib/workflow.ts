// The promotion workflow as the UI shows it: the transitions a status has
// and whether this user may make one. The server decides
// (components/domain/src/promotion/workflow.rs); this only hides buttons
// that would be refused.
import type { Rec } from "./resources";
import type { User } from "./api/client";

export type Status = "draft" | "submitted" | "approved" | "rejected";

const NEXT: Record<Status, Status[]> = {
  draft: ["submitted"],
  submitted: ["approved", "rejected"],
  rejected: ["draft"],
  approved: [],
};

export const ACTION: Record<Status, string> = {
  submitted: "Submit for approval",
  approved: "Approve",
  rejected: "Reject",
  draft: "Back to draft",
};

/** The transitions `user` may make on `promotion` now. */
export function allowed(promotion: Rec, user: User | null): Status[] {
  const from = promotion.approvalStatus as Status;
  return (NEXT[from] ?? []).filter(() => {
    if (from !== "submitted") return true;
    // Four eyes: an administrator other than the one who submitted it.
    return user?.admin === true && promotion.submittedBy !== user.id;
  });
}

/** Why no decision is offered on a submitted promotion, if that is the case. */
export function whyNot(promotion: Rec, user: User | null): string {
  if (promotion.approvalStatus !== "submitted") return "";
  if (!user?.admin) return "Waiting for an administrator to approve or reject it.";
  if (promotion.submittedBy === user.id) return "You submitted it, so another administrator must decide (four eyes).";
  return "";
}
