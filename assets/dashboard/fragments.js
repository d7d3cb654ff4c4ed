// GraphQL selections the pages share, so the live updates and the first load ask for the same
// fields.

export const SCORE_VIEW = 'points pointsExact max percentage';

export const SECURE_SCORE = `
  id
  updatedAt
  maxScore { ${SCORE_VIEW} }
  current { ${SCORE_VIEW} }
  planned { ${SCORE_VIEW} }
  currentLicense { ${SCORE_VIEW} }
  achievable { ${SCORE_VIEW} }
  verified { ${SCORE_VIEW} }
  categories {
    id
    category
    maxScore { ${SCORE_VIEW} }
    current { ${SCORE_VIEW} }
    planned { ${SCORE_VIEW} }
    currentLicense { ${SCORE_VIEW} }
    achievable { ${SCORE_VIEW} }
    verified { ${SCORE_VIEW} }
  }
`;

export const EVENT = `
  id kind controlId actionId actor occurredAt
  statusBefore statusAfter pointsBefore pointsAfter pointsDelta comment
`;

export const USER_ERRORS = 'userErrors { field message code }';
